"""``mmpriv run``: lm-eval's ``run`` with our models registered and our task folder on the include path.

The command line is parsed by lm-eval's own parser, so every ``lm-eval run`` option works. What this
module adds around lm-eval's evaluation:

1. secrets in ``--model_args`` are refused before anything is logged (``models._args.refuse_secrets``);
2. when every requested task is in our folders, the task index is built from those folders only
   (lm-eval's default index reads ~27k YAMLs first); standard tasks alongside use the full index;
3. the requested tasks are built once *before* the model (:func:`preflight`), so a data fault (missing
   dataset, unreadable parquet, missing column, unknown ``where`` column) ends the run with one line
   and exit code 2 before any model is loaded or called;
4. the evaluation runs in slices of docs (``commands/slices.py``): each slice's sample logs are
   written as it finishes (``outputs/sample_spool.py``), so memory does not grow with the data.

Runs that use lm-eval's tracker integrations (W&B, Trackio, Hub upload) or task YAML paths are
handed to lm-eval's own ``run`` unchanged. Those loggers see raw sample records, so with our tasks
they are refused unless ``--keep_pii`` (:func:`refuse_raw_uploads`).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from mmpriv_tasks import registry

from mmpriv_tasks.commands import lm_eval_noise, run_checks

from mmpriv_tasks.inputs import task_data

from mmpriv_tasks.outputs import run_stats

from mmpriv_tasks.registry import packs
from mmpriv_tasks.argv import split_option
from mmpriv_tasks.errors import DataError, InputError
from mmpriv_tasks.outputs import keep_pii_requested, private_outputs
from mmpriv_tasks.scoring.refusal_modes import offline_decisions

log = logging.getLogger(__name__)


def _include_path(argv: list[str]) -> tuple[list[str], str | None]:
    """argv without ``--include_path`` and the user's task folder (None when not given). A task YAML
    there that does not parse is an error naming its file and line (lm-eval would skip it unseen, and
    its task would look unknown)."""
    rest, theirs = split_option(argv, "--include_path")
    if theirs:
        registry.discover(Path(theirs).resolve())
    return rest, theirs


def _option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` / ``--name=VALUE`` in argv (the last one), or None."""
    return split_option(argv, name)[1]


def _requested(tasks) -> list[str]:
    """Task names from lm-eval's parsed ``--tasks`` (a list of comma-separated strings)."""
    items = tasks if isinstance(tasks, list) else [tasks or ""]
    return [name.strip() for item in items for name in str(item).split(",") if name.strip()]


def task_manager_for(names: list[str], include: str | list[Path], metadata: dict):
    """A TaskManager indexing only ``include`` (a folder or a list of folders, e.g. ``packs.task_roots``
    or :func:`folders_holding`, so that task configs are named by their own paths) when it holds every
    requested name (no YAML paths), else lm-eval's full index plus ``include``; None when names are
    YAML paths or folders."""
    from lm_eval.tasks import TaskManager

    if not names or any(n.endswith(".yaml") or Path(n).is_dir() for n in names):
        return None
    ours = TaskManager(include_path=include, include_defaults=False, metadata=metadata)
    unknown = [name for name in names if not ours.match_tasks([name])]
    if not unknown:
        return ours
    hints = {name: run_checks.did_you_mean(name, ours.all_tasks, cutoff=0.85) for name in unknown}
    typos = {name: hint for name, hint in hints.items() if hint}
    if typos:  # near-misses of our names: no need to index lm-eval's ~27k YAMLs first
        raise InputError(_unknown_tasks(typos))
    return TaskManager(include_path=include, metadata=metadata)


def folders_holding(names: list[str], entries: dict) -> list[Path] | None:
    """The folders of the YAMLs ``names`` stand for (a group's with its members', recursively; none inside
    another, as lm-eval indexes folders recursively) when every name is a task or group of ``entries``,
    else None: all lm-eval's index needs to build them (a YAML's includes resolve from its own folder),
    a third of our YAMLs for an MM-Privacy task."""
    folders: set[Path] = set()
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in entries:
            return None
        seen.add(name)
        folders.add(entries[name].path.parent)
        pending.extend(entries[name].subtasks)
    return sorted(folder for folder in folders if not any(other in folder.parents for other in folders))


def _unknown_tasks(typos: dict) -> str:
    """One line for unknown task names (``{name: did-you-mean suffix}``)."""
    from mmpriv_tasks.registry.retired import retired_message

    unknown = (retired_message(name) or f"unknown task or group '{name}'{hint}" for name, hint in typos.items())
    return ("; ".join(unknown) + " (see `mmpriv list`; lm-eval's own tasks: `lm-eval ls tasks`)")


def preflight(task_manager, names: list[str], metadata: dict, entries: dict) -> dict:
    """Build every requested task, once, before any model exists, so data faults end the run first:
    lm-eval reads each task's data (``task_data.load_split`` checks files, rows, columns, ``where``) and
    renders its first prompt; then each of our tasks scores its first doc with an empty reply, offline,
    so a column that only the scoring reads is missing now rather than after every generation.
    Returns the built tasks (``TaskManager.load``'s dict), which the evaluation uses as they are."""
    missing = [name for name in names if not task_manager.match_tasks([name])]
    if missing:
        raise InputError(_unknown_tasks({name: run_checks.did_you_mean(name, task_manager.all_tasks)
                                         for name in missing}))
    from jinja2.exceptions import UndefinedError

    built = [item for name in names for item in _build(task_manager, name, metadata, entries)]
    loaded = task_manager.load(built)  # the built objects, grouped as lm-eval groups them
    for name, task in loaded["tasks"].items():
        if name in entries:
            try:
                _probe_scoring(task)
            except (UndefinedError, KeyError) as exc:
                raise _missing_column(entries[name], metadata, exc) from exc
    return loaded


def _build(task_manager, name: str, metadata: dict, entries: dict) -> list:
    """The task or group ``name`` stands for (a tag: its tasks), built by lm-eval; a data fault of
    ours names its file, a standard task that cannot download its data says how to run it offline."""
    from jinja2.exceptions import UndefinedError

    try:
        loaded = task_manager.load([name])
    except (UndefinedError, KeyError) as exc:
        fault = _column_fault(task_manager, name, metadata, entries) if name in entries else None
        if fault is None:
            raise
        raise fault from exc
    except OSError as exc:  # lm-eval's own tasks download their data (ConnectionError, not in the cache)
        if name in entries or isinstance(exc, DataError):
            raise
        reason = " ".join(str(exc).split())[:200]
        raise InputError(f"task '{name}' downloads its data from the Hugging Face Hub and could not get it "
                         f"({reason}): run it once online (the datasets cache then serves offline runs, "
                         f"HF_DATASETS_OFFLINE=1), or copy its YAML with a local `dataset_path`/`data_files` "
                         f"and pass --include_path") from exc
    if name in loaded["groups"]:
        return [loaded["groups"][name]]
    return [loaded["tasks"][name]] if name in loaded["tasks"] else list(loaded["tasks"].values())


def _column_fault(task_manager, name: str, metadata: dict, entries: dict) -> DataError | None:
    """Which of our tasks under ``name`` misses a column its prompt or hooks read, found by building
    them one by one (only after a failed build)."""
    from jinja2.exceptions import UndefinedError

    for entry in registry.tasks_of(name, entries):
        try:
            task_manager.load([entry.name])
        except (UndefinedError, KeyError) as exc:
            return _missing_column(entry, metadata, exc)
    return None


def _missing_column(entry, metadata: dict, exc: Exception) -> DataError:
    column = str(exc).split("'")[1] if "'" in str(exc) else str(exc)
    return DataError(f"{_data_file(entry, metadata)}: missing column '{column}', which task {entry.name} "
                     f"reads. Rebuild or re-import the data ({task_data.GET_DATA}).")


def _probe_scoring(task) -> None:
    """``process_results`` of the task's first doc with an empty and a non-empty reply, in offline
    refusal mode; a gold field of the wrong type (an integer ``pii_value``) is a data fault now."""
    docs = task.eval_docs
    if not len(docs):
        return
    with offline_decisions():
        for reply in ("", "probe 0"):
            try:
                task.process_results(dict(docs[0]), [reply])
            except (TypeError, AttributeError) as exc:
                raise DataError(f"task {task.config.task}: its first row cannot be scored ({type(exc).__name__}: "
                                f"{exc}); a column has the wrong type. Rebuild or re-import the data "
                                f"({task_data.GET_DATA}).") from None


def _data_file(entry, metadata: dict) -> str:
    """The parquet file a task of ours reads (what a data-fault message names)."""
    kwargs = entry.config.get("dataset_kwargs") or {}
    data_dir = metadata.get("data_dir")
    if "dataset" not in kwargs or "split" not in kwargs:
        return f"task {entry.name}"
    try:
        return str(task_data.resolve_split(kwargs["dataset"], kwargs["split"], data_dir))
    except task_data.DatasetMissingError:
        return f"dataset {kwargs['dataset']}/{kwargs['split']}"


def _print_summary(cfg, results: dict) -> None:
    """lm-eval's console summary: the run's settings, then the results (and groups) table."""
    from mmpriv_tasks.outputs.summary_table import markdown_table

    batch_sizes = ",".join(map(str, results["config"]["batch_sizes"]))
    print(f"{cfg.model} ({cfg.model_args}), gen_kwargs: ({cfg.gen_kwargs}), limit: {cfg.limit}, "
          f"num_fewshot: {cfg.num_fewshot}, batch_size: {cfg.batch_size}{f' ({batch_sizes})' if batch_sizes else ''}")
    print(markdown_table(results))
    if "groups" in results:
        print(markdown_table(results, "groups"))


def _bootstrap_iters(argv: list[str]) -> tuple[list[str], int]:
    """argv without ``--bootstrap_iters N`` (simple_evaluate's option, which lm-eval's CLI lacks) and N
    (lm-eval's default 100000; 0 = no stderr)."""
    rest, value = split_option(argv, "--bootstrap_iters")
    if value is None:
        return rest, 100000
    if not value.isdigit():
        raise InputError(f"--bootstrap_iters: expected a whole number >= 0 (0: no stderr), got '{value}'")
    return rest, int(value)


def _needs_stock_runner(args) -> bool:
    return any(getattr(args, name, None) for name in ("wandb_args", "trackio_args", "hf_hub_log_args", "config"))


def _torch_seed(model: str, seed: list | None):
    """lm-eval's torch seed, or None for our models that never use torch (importing torch only to
    seed it costs seconds)."""
    from lm_eval.api.registry import get_model

    if not getattr(get_model(model), "USES_TORCH", True):
        return None
    return seed[2] if seed else None


def _rows_to_read(cfg) -> dict:
    """``{"max_docs": N}`` when the run evaluates only each task's first N docs (``--limit N``, N >= 1),
    so that ``task_data.load_split`` reads only the rows holding them; ``{}`` when a run needs every
    row: a fractional limit, ``--samples``, few-shot examples drawn from the docs, or a requests cache
    (lm-eval builds and caches every doc's request)."""
    if (cfg.limit is None or cfg.limit < 1 or cfg.samples or cfg.num_fewshot
            or cfg.cache_requests.get("cache_requests")):
        return {}
    return {"max_docs": int(cfg.limit)}


def _execute(args, include: list[Path], entries: dict, bootstrap_iters: int = 100000) -> None:
    """lm-eval's ``run`` (``lm_eval._cli.run.Run._execute``) with our task index and preflight."""
    from lm_eval.config.evaluate_config import EvaluatorConfig
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import handle_non_serializable

    from mmpriv_tasks.commands.simple_run import simple_evaluate  # lm-eval's, without importing torch for its env report
    from mmpriv_tasks.outputs.sample_spool import SampleSpool

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    cfg = EvaluatorConfig.from_cli(args)
    names = _requested(cfg.tasks)
    metadata = {**(cfg.metadata or {}), **_rows_to_read(cfg)}
    task_manager = task_manager_for(names, folders_holding(names, entries) or include, metadata)
    built = None
    if task_manager is None:  # YAML paths / folders as --tasks: lm-eval resolves them
        task_manager = cfg.process_tasks(cfg.metadata)
    else:
        built = preflight(task_manager, names, metadata, entries)
        cfg.tasks = names
    if cfg.output_path:
        cfg.hf_hub_log_args["output_path"] = cfg.output_path
    tracker = EvaluationTracker(**cfg.hf_hub_log_args)
    spool = SampleSpool(tracker, write=cfg.log_samples)  # sample logs written slice by slice
    raw_metrics: dict = {}
    results = simple_evaluate(
        model=cfg.model, model_args=cfg.model_args, tasks=cfg.tasks, num_fewshot=cfg.num_fewshot,
        batch_size=cfg.batch_size, max_batch_size=cfg.max_batch_size, device=cfg.device,
        use_cache=cfg.use_cache, cache_requests=cfg.cache_requests.get("cache_requests", False),
        rewrite_requests_cache=cfg.cache_requests.get("rewrite_requests_cache", False),
        delete_requests_cache=cfg.cache_requests.get("delete_requests_cache", False),
        limit=cfg.limit, samples=cfg.samples, check_integrity=cfg.check_integrity, write_out=cfg.write_out,
        bootstrap_iters=bootstrap_iters,
        log_samples=cfg.log_samples, evaluation_tracker=tracker, system_instruction=cfg.system_instruction,
        apply_chat_template=cfg.apply_chat_template, fewshot_as_multiturn=cfg.fewshot_as_multiturn,
        gen_kwargs=cfg.gen_kwargs, task_manager=task_manager, predict_only=cfg.predict_only,
        random_seed=cfg.seed[0] if cfg.seed else None, numpy_random_seed=cfg.seed[1] if cfg.seed else None,
        torch_random_seed=_torch_seed(cfg.model, cfg.seed), fewshot_random_seed=cfg.seed[3] if cfg.seed else None,
        confirm_run_unsafe_code=cfg.confirm_run_unsafe_code, built=built, on_samples=spool.add,
        raw_metrics=raw_metrics,
    )
    built = None  # the tasks and their last slice's requests
    if results is None:  # not rank 0 under data parallel
        return
    if cfg.show_config:
        print(json.dumps({k: v for k, v in results.items() if k != "samples"}, indent=2,
                         default=handle_non_serializable, ensure_ascii=False))
    cfg.model_args.pop("trust_remote_code", None)
    results = run_stats.add_uncertainty(results, entries, raw_metrics)  # stderr for our metrics; strict JSON
    spool.publish(results)
    _print_summary(cfg, results)


RUN_HELP = """\
mmpriv run: lm-eval's `run` with mmpriv's models registered and its tasks (and installed packs') found.
What mmpriv adds to the lm-eval options listed below:
  --keep_pii            write outputs unmasked (owner-only files, with a warning; also MMPRIV_KEEP_PII=1);
                        by default every value of every person record in the run is masked in written files
  --include_path DIR    your task folder, searched besides mmpriv's own task folders and installed packs
  --output_path PATH    checked writable before the run; implies --log_samples (`mmpriv report` reads them)
  --model_args KEY=...  checked against the model's arguments (unknown keys are errors);
                        preset=NAME expands a generation preset (mmpriv_tasks.models.presets)
  --bootstrap_iters N   bootstrap draws for the stderr of non-mean metrics (macro-F1, entropy); 0: none
  models: mmpriv-hf, mmpriv-api, ocr-extractor, voice-profiler, refuse-all (README, Models)
  environment: MMPRIV_REFUSAL_MODE=offline|judge|hybrid with MMPRIV_JUDGE_BASE_URL / MMPRIV_JUDGE_MODEL,
               MMPRIV_DATA_DIR (datasets), MMPRIV_CACHE_DIR (memory-mapped tables),
               MMPRIV_MIN_FREE_SPACE=SIZE (e.g. 2G: left free on the output disk, checked before publishing),
               MMPRIV_SLICE_REQUESTS=N (docs evaluated per slice over all tasks, default 2048: memory vs speed)
"""


def run(lm_eval_args: list[str]) -> int:
    """``mmpriv run ARGS``: check secrets, then evaluate with our include path (and ``--log_samples``
    whenever results are written)."""
    import mmpriv_tasks  # noqa: F401  (registers our models before lm-eval builds one)

    # lm-eval re-encodes every image of a multimodal run to hash it into the sample log, which decodes
    # it and keeps its pixels until the run ends (4 GB for the full MM-Privacy build); our docs name each
    # medium by reference instead. Read once, when lm-eval's defaults are first imported (below).
    os.environ.setdefault("LMEVAL_HASHMM", "0")
    from lm_eval._cli import HarnessCLI

    from mmpriv_tasks.models._args import parse_model_args, refuse_secrets
    from mmpriv_tasks.models.presets import expand_argv

    rest, theirs = _include_path(lm_eval_args)
    include = packs.include_path(theirs)  # one folder for lm-eval's parser: ours, installed packs', the user's
    if {"-h", "--help"} & set(rest):
        print(RUN_HELP)  # then lm-eval's own help
    rest = expand_argv(rest)  # preset=NAME -> the preset's model args (recorded in the results)
    rest, bootstrap_iters = _bootstrap_iters(rest)
    refuse_secrets(parse_model_args(_option(rest, "--model_args")))
    run_checks.check_output_path(_option(rest, "--output_path") or _option(rest, "-o"))
    run_checks.check_refusal_mode()
    refuse_secrets(parse_model_args(_config_model_args(_option(rest, "--config"))))
    entries = packs.entries()  # ours and installed packs'; a broken task YAML fails here, naming the file
    refuse_raw_uploads(rest, entries)
    if _option(rest, "--output_path") is not None and "--log_samples" not in rest:
        rest.append("--log_samples")  # `mmpriv report` needs the per-sample flags
    try:
        with private_outputs(rest) as rest:  # lm-eval writes to a private folder; PII masked on publishing
            sys.argv = ["lm-eval", "run", *rest, "--include_path", include]
            parser = HarnessCLI()
            args = parser.parse_args()
            run_checks.check_tasks_given(args.tasks)
            run_checks.check_model(args.model or "hf", args.model_args)
            run_checks.check_task_fields(_requested(args.tasks), _with_user_tasks(entries, theirs))
            _setup_logging(getattr(logging, str(args.verbosity or "INFO"), logging.INFO))
            lm_eval_noise.install()  # lm-eval hints that do not apply to our tasks
            if _needs_stock_runner(args):
                parser.execute(args)
            else:
                _execute(args, packs.task_roots(theirs), entries, bootstrap_iters)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: staging and temporary files are gone
        print(f"mmpriv: interrupted ({exc or 'SIGINT'}); no results were published", file=sys.stderr)
        return 130
    return 0


def _with_user_tasks(entries: dict, theirs: str | None) -> dict:
    """``entries`` and the tasks of the user's ``--include_path`` folder (ours first where names clash)."""
    return {**(registry.discover(Path(theirs).resolve()) if theirs else {}), **entries}


UPLOADERS = ("--wandb_args", "--trackio_args", "--hf_hub_log_args")


def refuse_raw_uploads(argv: list[str], entries: dict) -> None:
    """lm-eval's loggers (W&B, Trackio, Hub) get the raw sample records before any masking, and
    ``--write_out`` prints raw documents: refuse them for our tasks unless ``--keep_pii`` says raw
    person records may leave the run's private folder."""
    used = [name for name in UPLOADERS if _option(argv, name) is not None]
    ours = [name for name in _requested(_option(argv, "--tasks")) if name in entries]
    if used and ours and not keep_pii_requested(argv):
        raise InputError(f"{'/'.join(used)} would upload the raw sample records (names, SSNs, emails, voices) of "
                         f"{ours[0]} unmasked; pass --keep_pii to allow that, or drop {used[0]}")
    printing = [flag for flag in ("--write_out", "-w") if flag in argv]
    if printing and ours and not keep_pii_requested(argv):
        raise InputError(f"{printing[0]} prints raw documents of {ours[0]} (names, SSNs, emails) to the console; "
                         f"pass --keep_pii to allow that, or drop {printing[0]}")


def _config_model_args(path: str | None):
    """``model_args`` of an lm-eval ``--config`` YAML file (checked for secrets like the command line)."""
    if not path or not Path(path).is_file():
        return None
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return config.get("model_args") if isinstance(config, dict) else None


def _setup_logging(level: int) -> None:
    """lm-eval's log format and level (``--verbosity`` / ``LMEVAL_LOG_LEVEL``) for our loggers too."""
    from lm_eval.utils import setup_logging

    setup_logging(level)
    lm_eval_logger = logging.getLogger("lm_eval")
    ours = logging.getLogger("mmpriv_tasks")  # every module logs to logging.getLogger(__name__)
    ours.setLevel(lm_eval_logger.level)
    if not ours.handlers:
        for handler in lm_eval_logger.handlers:
            ours.addHandler(handler)
        ours.propagate = False


def debug_requested(argv: list[str]) -> bool:
    """Whether ``--verbosity DEBUG`` (or ``LMEVAL_LOG_LEVEL=DEBUG``) asks for tracebacks."""
    level = (_option(argv, "--verbosity") or _option(argv, "-v") or os.environ.get("LMEVAL_LOG_LEVEL") or "")
    return level.upper() == "DEBUG"
