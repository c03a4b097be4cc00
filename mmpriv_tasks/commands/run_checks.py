"""Checks of a ``mmpriv run`` command line before any task is indexed or model built: each common
mistake is one :class:`errors.InputError` line naming the bad value and the fix (exit code 2).

- no ``--tasks``; a model name lm-eval does not know (with the closest registered name); a
  ``--model_args`` key our model does not take (with the closest one);
- ``MMPRIV_REFUSAL_MODE`` not a mode, or ``judge`` / ``hybrid`` with no judge configured (hybrid would
  fail at its first unsure reply, after every generation);
- an ``--output_path`` that cannot be written (found now, not after the run).
"""
from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from pathlib import Path

from mmpriv_tasks.errors import InputError


def did_you_mean(name: str, known, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or ''."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_tasks_given(tasks) -> None:
    if not tasks:
        raise InputError("no tasks given: pass --tasks NAME[,NAME...] (e.g. --tasks mmprivacy; `mmpriv list` "
                         "prints ours, `lm-eval ls tasks` lm-eval's)")


def check_model(name: str, model_args) -> None:
    """The model name is registered with lm-eval (ours are registered by importing the package), and
    each ``--model_args`` key is one of its arguments (our models; lm-eval's own check theirs)."""
    from lm_eval.api.registry import get_model, model_registry

    from mmpriv_tasks.models._args import MergedArgs, parse_model_args, refuse_unknown

    known = list(model_registry.keys())
    if name not in known:
        raise InputError(f"--model '{name}' is not a model lm-eval knows{did_you_mean(name, known)}; ours: "
                         "mmpriv-hf, mmpriv-api, ocr-extractor, voice-profiler, refuse-all (README, Models)")
    model = get_model(name)
    if isinstance(model, type) and issubclass(model, MergedArgs):
        refuse_unknown(model, parse_model_args(model_args))


def check_refusal_mode() -> None:
    """``MMPRIV_REFUSAL_MODE`` names a mode, and a judge is configured when the mode asks one."""
    from mmpriv_tasks.scoring.judge import JudgeConfig, JudgeConfigError
    from mmpriv_tasks.scoring.refusal_modes import MODE_ENV, MODES, refusal_mode

    try:
        mode = refusal_mode()
    except ValueError as exc:
        value = os.environ.get(MODE_ENV, "").strip().lower()
        raise InputError(f"{exc}{did_you_mean(value, MODES)}, or unset it for offline decisions") from exc
    if mode == "offline":
        return
    try:
        JudgeConfig.from_env()
    except JudgeConfigError as exc:
        raise InputError(f"{MODE_ENV}={mode}: {exc}; or unset {MODE_ENV} for offline decisions") from exc


def check_output_path(value: str | None) -> None:
    """``--output_path`` (a folder, or a ``.json`` file) can be created and written: a folder is created
    and removed in its deepest existing parent."""
    if value is None:
        return
    target = Path(value).expanduser()
    folder = target.parent if target.suffix == ".json" else target
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a folder"
    else:
        try:
            shutil.rmtree(tempfile.mkdtemp(prefix=".mmpriv-write-check-", dir=existing))
        except OSError as exc:
            problem = f"{existing} is not writable ({exc.strerror or exc})"
    if problem:
        raise InputError(f"--output_path {value}: {problem}; choose a folder you can write to")
