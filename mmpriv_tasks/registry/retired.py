"""Retired task names (``task_configs/retired.yaml``): what replaced them, and the message to show
when someone asks for one (``mmpriv run`` / ``mmpriv cite``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from mmpriv_tasks import paths

RETIRED_FILE = "retired.yaml"


@lru_cache(maxsize=4)
def retired_tasks(root: Path | None = None) -> dict[str, dict]:
    """Retired name -> ``{"replaced_by": [...], "reason": ...}``; empty when there is no list."""
    path = (root or paths.task_configs_dir()) / RETIRED_FILE
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    retired = data.get("retired") or {}
    for name, entry in retired.items():
        if not isinstance(entry, dict) or not entry.get("replaced_by"):
            raise ValueError(f"{path}: retired task '{name}' needs a 'replaced_by' list")
    return retired


def retired_message(name: str) -> str | None:
    """What to use instead of the retired task ``name`` (None when ``name`` is not retired)."""
    entry = retired_tasks().get(name)
    if entry is None:
        return None
    reason = f" ({entry['reason']})" if entry.get("reason") else ""
    return f"task '{name}' is retired{reason}; use instead: {', '.join(entry['replaced_by'])}"


def retired_in_args(lm_eval_args: list[str]) -> list[str]:
    """Messages for every retired name in the ``--tasks`` / ``-t`` option of an lm-eval command line
    (comma- or space-separated)."""
    names: list[str] = []
    for i, arg in enumerate(lm_eval_args):
        if arg.startswith("--tasks="):
            names += arg.split("=", 1)[1].split(",")
        elif arg in ("--tasks", "-t"):
            for value in lm_eval_args[i + 1:]:
                if value.startswith("-"):
                    break
                names += value.split(",")
    return [message for name in names if (message := retired_message(name.strip()))]
