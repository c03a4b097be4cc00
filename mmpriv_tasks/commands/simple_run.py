"""lm-eval's ``simple_evaluate`` with an environment record that never imports torch.

Stock ``simple_evaluate`` ends with ``add_env_info``, which imports torch (``collect_env``) and
transformers to describe the machine: 1-2 s, and for API and reference runs more than the whole
evaluation. :func:`simple_evaluate` here does every other step of lm-eval 0.4.13's in the same
order (seeds, model construction with lm-eval's options, ``--use_cache``, task overrides, tracker,
``lm_eval.evaluator.evaluate`` (once per slice of docs: :mod:`mmpriv_tasks.commands.slices`), the
``config`` block, git hash, date, tokenizer info) and writes the same keys and values, with
:func:`environment` filling lm-eval's environment keys: torch's full report when
torch is already loaded (a model that uses it: GPU details included), else package versions and the
platform read from package metadata. ``tests/test_simple_run.py`` compares the result keys with stock
lm-eval's.
"""
from __future__ import annotations

import logging
import os
import platform
import random
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("lm_eval.evaluator")  # lm-eval's own messages keep lm-eval's logger name

PACKAGES = ("mmpriv-tasks", "lm_eval", "torch", "transformers", "datasets", "numpy", "pyarrow", "aiohttp",
            "pillow", "soundfile", "librosa", "rapidocr-onnxruntime", "onnxruntime")


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """lm-eval's environment keys (``pretty_env_info``, ``transformers_version``, ``lm_eval_version``,
    ``upper_git_hash``) without importing torch or transformers."""
    from lm_eval.loggers.utils import get_commit_from_path

    if "torch" in sys.modules:  # already paid for: lm-eval's full report (CUDA, GPUs, drivers)
        try:
            from torch.utils.collect_env import get_pretty_env_info

            pretty = get_pretty_env_info()
        except Exception as err:  # noqa: BLE001 - as lm-eval: the reason instead of the report
            pretty = str(err)
    else:
        versions = ", ".join(f"{name} {found}" for name in PACKAGES if (found := _version(name)))
        pretty = (f"Python {platform.python_version()} ({sys.executable}) on {platform.platform()}, "
                  f"{platform.machine()}, {os.cpu_count()} CPUs; packages: {versions}; "
                  "torch not loaded by this run (no GPU details)")
    return {"pretty_env_info": pretty, "transformers_version": _version("transformers") or "N/A",
            "lm_eval_version": _version("lm_eval") or "N/A",
            "upper_git_hash": get_commit_from_path(Path(os.getcwd(), ".."))}


def git_commit_hash() -> str | None:
    """lm-eval 0.4.13's ``get_git_commit_hash`` (recorded in the results) without git's ``fatal: not a git
    repository`` on stderr in every run started outside a git checkout."""
    import subprocess

    from lm_eval.loggers.utils import get_commit_from_path

    try:
        return subprocess.check_output(["git", "describe", "--always"], stderr=subprocess.DEVNULL).strip().decode()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return get_commit_from_path(os.getcwd())


def _build_model(model: str, model_args, batch_size, max_batch_size, device):
    import lm_eval.api.registry
    from lm_eval.utils import simple_parse_args_string, wrap_text

    options = {"batch_size": batch_size, "max_batch_size": max_batch_size, "device": device}
    if model_args is None:
        log.warning("model_args not specified. Using defaults.")
        model_args = ""
    if isinstance(model_args, dict):
        log.info("Initializing %s model, with arguments: %s", model, model_args)
        return lm_eval.api.registry.get_model(model).create_from_arg_obj(model_args, options), model_args
    log.info(wrap_text(f"Initializing {model} model, with arguments: {simple_parse_args_string(model_args)}"))
    return lm_eval.api.registry.get_model(model).create_from_arg_string(model_args, options), model_args


def _seed(random_seed, numpy_random_seed, torch_random_seed, fewshot_random_seed) -> None:
    import numpy as np
    from lm_eval.utils import set_torch_seed

    messages = []
    if random_seed is not None:
        messages.append(f"Setting random seed to {random_seed}")
        random.seed(random_seed)
    if numpy_random_seed is not None:
        messages.append(f"Setting numpy seed to {numpy_random_seed}")
        np.random.seed(numpy_random_seed)
    if torch_random_seed is not None:
        messages.append(f"Setting torch manual seed to {torch_random_seed}")
        set_torch_seed(torch_random_seed)
    if fewshot_random_seed is not None:
        messages.append(f"Setting fewshot manual seed to {fewshot_random_seed}")
    if messages:
        log.info(" | ".join(messages))


def _configure_tasks(loaded: dict, gen_kwargs, predict_only: bool, num_fewshot, fewshot_random_seed) -> None:
    """lm-eval's per-task overrides: CLI gen_kwargs, predict-only, num_fewshot, fewshot seed."""
    for task_name, task in loaded["tasks"].items():
        if task.get_config("output_type") == "generate_until":
            if gen_kwargs is not None:
                task.set_config(key="generation_kwargs", value=gen_kwargs, update=True)
            log.info(f"{task.config.task}: Using gen_kwargs: {task.config.generation_kwargs}")
        if predict_only:
            log.info("Processing %s in output-only mode. Metrics will not be calculated!", task_name)
            task.override_metric(metric_name="bypass")
        if num_fewshot is not None:
            if (default := task.get_config("num_fewshot")) == 0:
                log.info("num_fewshot has been set to 0 for %s in its config. Manual configuration will be ignored.",
                         task_name)
            else:
                log.warning("Overwriting default num_fewshot of %s from %s to %s", task_name, default, num_fewshot)
                task.set_config(key="num_fewshot", value=num_fewshot)
        elif task.get_config("num_fewshot") is None:
            task.set_config(key="num_fewshot", value=0)
        task.set_fewshot_seed(seed=fewshot_random_seed)


def simple_evaluate(*, model: str, task_manager, tasks: list, model_args=None, num_fewshot=None, batch_size=None,
                    max_batch_size=None, device=None, use_cache=None, cache_requests=False,
                    rewrite_requests_cache=False, delete_requests_cache=False, limit=None, samples=None,
                    bootstrap_iters: int = 100000, check_integrity=False, write_out=False, log_samples=True,
                    evaluation_tracker=None, system_instruction=None, apply_chat_template=False,
                    fewshot_as_multiturn=True, gen_kwargs=None, predict_only=False, random_seed=None,
                    numpy_random_seed=None, torch_random_seed=None, fewshot_random_seed=None,
                    confirm_run_unsafe_code=False, built: dict | None = None,
                    on_samples: Callable[[str, list], None] | None = None,
                    raw_metrics: dict | None = None) -> dict | None:
    """``lm_eval.simple_evaluate`` for a registered model name and a ``task_manager`` (keyword
    arguments as lm-eval's), with :func:`environment` as the environment step and the evaluation in
    slices (:mod:`mmpriv_tasks.commands.slices`). ``built``: the tasks already built
    (``task_manager.load(tasks)``), used instead of building them again. ``on_samples(task, records)``
    receives each slice's sample records instead of ``results["samples"]`` keeping them all;
    ``raw_metrics``, when given, is filled with each task's per-sample metric values
    (``{task: {(metric, filter): values}}``, what lm-eval aggregated)."""
    import lm_eval.api.model
    from lm_eval.caching.cache import delete_cache
    from lm_eval.evaluator_utils import _log_selected_tasks, run_task_tests
    from lm_eval.loggers.utils import add_tokenizer_info
    from lm_eval.utils import simple_parse_args_string, wrap_text

    from mmpriv_tasks.commands.slices import evaluate_in_slices

    start_date = time.time()
    if limit is not None and samples is not None:
        raise ValueError("Either 'limit' or 'samples' must be None, but both are not None.")
    chat_words = ("inst", "chat")
    if not apply_chat_template and (
            (isinstance(model_args, str) and any(word in model_args.lower() for word in chat_words))
            or (isinstance(model_args, dict)
                and any(word in str(value).lower() for value in model_args.values() for word in chat_words))):
        log.warning(wrap_text(
            f"""pretrained={model_args.get("pretrained") if isinstance(model_args, dict) else model_args} appears to be an
            instruct or chat variant but chat template is not applied.
            Recommend setting `apply_chat_template` (optionally `fewshot_as_multiturn`)."""))
    if delete_requests_cache:
        log.info("Deleting requests cache...")
        delete_cache()
    _seed(random_seed, numpy_random_seed, torch_random_seed, fewshot_random_seed)
    if not tasks:
        raise ValueError("No tasks specified, or no tasks found. Please verify the task names.")
    if gen_kwargs:
        if isinstance(gen_kwargs, str):
            gen_kwargs = simple_parse_args_string(gen_kwargs)
        log.warning("generation_kwargs: %s specified through cli, these settings will update set parameters in yaml "
                    "tasks. Ensure 'do_sample=True' for non-greedy decoding!", gen_kwargs)
        gen_kwargs = gen_kwargs or None
    lm, model_args = _build_model(model, model_args, batch_size, max_batch_size, device)
    cache_rank = lm.rank or int(os.environ.get("LOCAL_RANK", "0"))
    if use_cache is not None:
        log.info(f"Using cache at {use_cache + '_rank' + str(cache_rank) + '.db'}")
        lm = lm_eval.api.model.CachingLM(lm, use_cache + "_rank" + str(cache_rank) + ".db")
    loaded = task_manager.load(tasks) if built is None else built
    _log_selected_tasks(loaded["tasks"], loaded["groups"], task_manager)
    _configure_tasks(loaded, gen_kwargs, predict_only, num_fewshot, fewshot_random_seed)
    if check_integrity:
        run_task_tests(task_list=tasks)
    if evaluation_tracker is not None:
        evaluation_tracker.general_config_tracker.log_experiment_args(
            model_source=model, model_args=model_args or "", system_instruction=system_instruction,
            chat_template=lm.chat_template(apply_chat_template) if apply_chat_template else None,
            fewshot_as_multiturn=fewshot_as_multiturn)
    kept: dict[str, list] = {}
    if on_samples is None and (log_samples or predict_only):
        def on_samples(task: str, records: list) -> None:
            kept.setdefault(task, []).extend(records)
    results, raw = evaluate_in_slices(
        lm, loaded, on_samples=on_samples, limit=limit, samples=samples, cache_requests=cache_requests,
        rewrite_requests_cache=rewrite_requests_cache, bootstrap_iters=bootstrap_iters, write_out=write_out,
        system_instruction=system_instruction, apply_chat_template=apply_chat_template,
        fewshot_as_multiturn=fewshot_as_multiturn, verbosity=None, confirm_run_unsafe_code=confirm_run_unsafe_code)
    if results is None or int(os.environ.get("LOCAL_RANK", "0")) != 0:
        return None
    if kept:
        results["samples"] = kept
    if raw_metrics is not None:
        raw_metrics.update(raw)
    results["config"] = {"model": model, "model_args": model_args}
    if hasattr(lm, "get_model_info"):
        results["config"].update(lm.get_model_info())
    results["config"].update({
        "batch_size": batch_size, "batch_sizes": list(lm.batch_sizes.values()) if hasattr(lm, "batch_sizes") else [],
        "device": device, "use_cache": use_cache, "limit": limit, "bootstrap_iters": bootstrap_iters,
        "gen_kwargs": gen_kwargs, "random_seed": random_seed, "numpy_seed": numpy_random_seed,
        "torch_seed": torch_random_seed, "fewshot_seed": fewshot_random_seed,
    })
    results["git_hash"] = git_commit_hash()
    results["date"] = start_date
    results.update(environment())
    add_tokenizer_info(results, lm)
    return results
