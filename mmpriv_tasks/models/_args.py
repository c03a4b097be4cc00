"""Parsing of lm-eval ``--model_args`` values shared by the model wrappers."""
from __future__ import annotations

from typing import Any


def as_bool(value: Any) -> bool:
    """``true/1/yes/on`` (any case) or a real bool -> bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
