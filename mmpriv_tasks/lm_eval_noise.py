"""Keep lm-eval's hints that do not apply to our tasks out of ``mmpriv run``'s output.

Only the exact messages listed in :data:`IRRELEVANT` are dropped, and only from the logger that emits
them; every other record, warnings included, passes. git's own complaint outside a checkout (lm-eval
asks git for a commit hash) is not printed.
"""
from __future__ import annotations

import logging
import os

IRRELEVANT = {
    # printed once per task using `custom_dataset` (all of ours): a hint about lm-eval's long-context tasks
    "lm_eval.api.task": ("Custom kwargs can be passed to `--metadata` in console",),
    # names lm-eval's private staging folder; `mmpriv run` prints where the (masked) files went
    "lm_eval.loggers.evaluation_tracker": ("Saving per-task samples to",),
}


class _DropHints(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(p) or f": {p}" in message for p in self.prefixes)


def _git_commit_hash() -> str | None:
    """lm-eval 0.4.13's ``get_git_commit_hash`` (recorded in the results) without git's ``fatal: not a git
    repository`` on stderr in every run started outside a git checkout."""
    import subprocess

    from lm_eval.loggers.utils import get_commit_from_path

    try:
        return subprocess.check_output(["git", "describe", "--always"], stderr=subprocess.DEVNULL).strip().decode()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return get_commit_from_path(os.getcwd())


def install() -> None:
    """Add the filters and the quiet git lookup (idempotent)."""
    import lm_eval.evaluator

    for name, prefixes in IRRELEVANT.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropHints) for f in logger.filters):
            logger.addFilter(_DropHints(prefixes))
    lm_eval.evaluator.get_git_commit_hash = _git_commit_hash
