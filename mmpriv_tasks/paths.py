"""Locate the files that ship with the package, in editable and in wheel installs.

A wheel force-includes ``task_configs/`` and ``metrics/`` inside ``mmpriv_tasks/``;
an editable install leaves them at the repository root, next to the package.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

DATA_DIR_ENV = "MMPRIV_DATA_DIR"
"""Environment variable naming a folder with full-size datasets (``<dir>/<dataset>/``)."""


def _shipped(name: str) -> Path:
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"mmpriv-tasks is installed without its '{name}' folder (looked in {PACKAGE_DIR} and "
        f"{PACKAGE_DIR.parent}); reinstall with `pip install mmpriv-tasks`"
    )


def task_configs_dir() -> Path:
    """The folder to pass to ``lm-eval --include_path``."""
    return _shipped("task_configs")


def metrics_dir() -> Path:
    """The folder holding the ``evaluate``-loadable metric modules."""
    return _shipped("metrics")


def bundled_data_dir() -> Path:
    """Small datasets shipped inside the package (the ``mini`` variants)."""
    return PACKAGE_DIR / "bundled"


def user_data_dir() -> Path | None:
    """The folder named by ``$MMPRIV_DATA_DIR``, if set."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None
