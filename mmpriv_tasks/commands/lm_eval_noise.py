"""Keep lm-eval's hints that do not apply to our tasks out of ``mmpriv run``'s output.

Only the exact messages listed in :data:`IRRELEVANT` are dropped, and only from the logger that emits
them; every other record, warnings included, passes.
"""
from __future__ import annotations

import logging

IRRELEVANT = {
    # the first: once per task using `custom_dataset` (all of ours), a hint about lm-eval's long-context
    # tasks; the second: once per task and slice, as `mmpriv run` evaluates in slices of doc indices
    # (commands/slices.py logs each slice once)
    "lm_eval.api.task": ("Custom kwargs can be passed to `--metadata` in console", "Evaluating on "),
    "lm_eval.evaluator": ("Evaluating examples for tasks",),
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


def install() -> None:
    """Add the filters (idempotent)."""
    for name, prefixes in IRRELEVANT.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropHints) for f in logger.filters):
            logger.addFilter(_DropHints(prefixes))
