"""Checks of a ``mmpriv run`` command line before any task is indexed or model built: each common
mistake is one :class:`errors.InputError` line naming the bad value and the fix (exit code 2).

- no ``--tasks``; a model name lm-eval does not know (with the closest registered name); a
  ``--model_args`` key our model does not take (with the closest one);
- ``MMPRIV_REFUSAL_MODE`` not a mode, or ``judge`` / ``hybrid`` with no judge configured (hybrid would
  fail at its first unsure reply, after every generation);
- an ``--output_path`` that cannot be written (found now, not after the run);
- a field of lm-eval's task config (``generation_kwargs.until``, ``max_gen_toks``, ``temperature``,
  ``do_sample``, ``num_fewshot``, ``output_type``...) of the wrong type in a requested task's YAML
  (lm-eval would fail on it mid-run, or send it to the model as it is).
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


def _text(value) -> bool:
    return isinstance(value, str)


def _whole(least: int):
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= least


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _list_of(check):
    return lambda value: isinstance(value, list) and all(map(check, value))


def _mapping_with(key: str):
    return lambda value: isinstance(value, dict) and key in value


OUTPUT_TYPES = ("generate_until", "loglikelihood", "loglikelihood_rolling", "multiple_choice")
_TEXT = (_text, "text")
_MAPPING = (lambda value: isinstance(value, dict), "a mapping (key: value)")
# lm-eval's TaskConfig fields (lm_eval.config.task) and the generation settings models read; a null
# value is lm-eval's default and always allowed.
TASK_FIELDS = {
    **dict.fromkeys(("task_alias", "dataset_path", "dataset_name", "training_split", "validation_split", "test_split",
                     "fewshot_split", "description", "target_delimiter", "fewshot_delimiter", "gen_prefix",
                     "use_prompt", "doc_to_decontamination_query"), _TEXT),
    "tag": (lambda value: _text(value) or _list_of(_text)(value), "text or a list of text"),
    **dict.fromkeys(("dataset_kwargs", "metadata", "fewshot_config", "generation_kwargs"), _MAPPING),
    "num_fewshot": (_whole(0), "a whole number >= 0"),
    "repeats": (_whole(1), "a whole number >= 1"),
    "output_type": (lambda value: value in OUTPUT_TYPES, f"one of {', '.join(OUTPUT_TYPES)}"),
    **dict.fromkeys(("should_decontaminate", "unsafe_code"), (lambda value: isinstance(value, bool), "true or false")),
    "metric_list": (_list_of(_mapping_with("metric")), "a list of mappings, each with a 'metric'"),
    "filter_list": (_list_of(_mapping_with("name")), "a list of mappings, each with a 'name'"),
}
GENERATION_FIELDS = {
    "until": (lambda value: _text(value) or _list_of(_text)(value), "text or a list of text"),
    "max_gen_toks": (_whole(1), "a whole number >= 1"),
    "max_new_tokens": (_whole(1), "a whole number >= 1"),
    "temperature": (_number, "a number >= 0"),
    "top_p": (_number, "a number >= 0"),
    "top_k": (_whole(0), "a whole number >= 0"),
    "do_sample": (lambda value: isinstance(value, bool), "true or false"),
}


def _field_problems(config: dict) -> list[tuple[str, object, str]]:
    """``(field, value, expected)`` for each wrong-typed field of a task config."""
    fields = [(name, config.get(name), TASK_FIELDS[name]) for name in TASK_FIELDS]
    generation = config.get("generation_kwargs")
    if isinstance(generation, dict):
        fields += [(f"generation_kwargs.{name}", generation.get(name), GENERATION_FIELDS[name])
                   for name in GENERATION_FIELDS]
    return [(name, value, what) for name, value, (ok, what) in fields if value is not None and not ok(value)]


def check_task_fields(names, entries: dict) -> None:
    """Each requested task of ``entries`` (groups expanded; task YAML paths read as given) has lm-eval's
    task fields of the right type; the first wrong one is one line naming the file and the field.
    Names of lm-eval's own tasks are not checked (they are not in ``entries``)."""
    from mmpriv_tasks.registry import load_config

    pending, seen = list(names), set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name.endswith(".yaml") and Path(name).is_file():
            path, config = Path(name), load_config(Path(name))
        elif name in entries:
            path, config = entries[name].path, entries[name].config
            if entries[name].kind == "group":
                pending += entries[name].subtasks
                continue
        else:
            continue
        problems = _field_problems(config)
        if problems:
            field, value, expected = problems[0]
            raise InputError(f"{path}: {field} is {value!r}, expected {expected}; fix the task YAML (or a file "
                             f"it includes)")
