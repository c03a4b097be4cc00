"""lm-eval's ``evaluate`` over slices of each task's docs, so a run's memory does not grow with its data.

Stock ``evaluate`` builds every request of every task, runs them, then keeps every sample record
(doc, arguments, replies, three hashes, metric values) until it returns: about 4.5 KB per request,
3 GB for HearSay's 700k requests. :func:`evaluate_in_slices` calls ``lm_eval.evaluator.evaluate``
once per slice (``samples=`` the slice's doc indices of each task), hands each slice's sample records
to ``on_samples`` (written and let go), keeps only the per-sample metric values (and, for tasks whose
docs are ``task_data.Rows``, only the slice's row dicts), and aggregates them
at the end with lm-eval's own ``_process_results`` (task aggregations, stderrs, groups) exactly as
``evaluate`` does after its last request. Results equal one ``evaluate`` call's
(``tests/test_slices.py``).

A slice holds at most :func:`requests_per_slice` docs summed over tasks (``MMPRIV_SLICE_REQUESTS``,
default 2048). Runs that draw few-shot examples or use lm-eval's requests cache are one slice: their
docs are drawn or cached in one pass.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

SLICE_REQUESTS_ENV = "MMPRIV_SLICE_REQUESTS"
DEFAULT_SLICE_REQUESTS = 2048

RawMetrics = dict  # {task: {(metric, filter): [per-sample values]}}


def requests_per_slice() -> int:
    """Docs per slice, summed over the run's tasks (``MMPRIV_SLICE_REQUESTS``, a whole number >= 1)."""
    from mmpriv_tasks.errors import InputError

    value = os.environ.get(SLICE_REQUESTS_ENV, str(DEFAULT_SLICE_REQUESTS))
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"${SLICE_REQUESTS_ENV}: expected a whole number >= 1 (docs per slice), got '{value}'")
    return int(value)


class IndexList(list):
    """Doc indices (``--samples``) with constant-time membership: lm-eval tests ``i in samples`` for
    every doc of the task, in every slice."""

    def __init__(self, items):
        super().__init__(items)
        self._members = frozenset(self)

    def __contains__(self, item) -> bool:
        return item in self._members

    def __getitem__(self, key):
        part = super().__getitem__(key)
        return IndexList(part) if isinstance(key, slice) else part


def doc_indices(task, limit, samples: dict | None) -> Sequence[int]:
    """The doc indices ``evaluate`` would score for ``task`` given ``limit`` / ``samples``: a ``range``,
    or the listed ones in ascending order (lm-eval scores listed docs in index order, and labels them
    by list position: sorted, each record keeps its own index)."""
    from lm_eval.evaluator_utils import get_sample_size

    name = task.config.task
    if samples is not None and samples.get(name):
        return IndexList(sorted(set(samples[name])))
    size = get_sample_size(task, limit)
    total = len(task.eval_docs)
    return range(min(size, total) if size else total)  # lm-eval reads a limit of 0 as none


def _one_pass(tasks: dict, cache_requests: bool) -> bool:
    return cache_requests or any((task.get_config("num_fewshot") or 0) > 0 for task in tasks.values())


def plan(tasks: dict, limit, samples: dict | None, cache_requests: bool = False) -> list[dict[str, Sequence[int]]]:
    """``[{task: doc indices}]``, one dict per slice, in doc order; each slice takes the same share of
    every task's docs, at most ``requests_per_slice()`` docs in all."""
    indices = {name: doc_indices(task, limit, samples) for name, task in tasks.items()}
    longest = max((len(ids) for ids in indices.values()), default=0)
    if _one_pass(tasks, cache_requests):
        return [indices]
    per_task = max(1, requests_per_slice() // max(1, len(indices)))
    return [{name: ids[start:start + per_task] for name, ids in indices.items() if ids[start:start + per_task]}
            for start in range(0, max(longest, 1), per_task)]


def _focus(tasks: dict, chosen: dict | None) -> None:
    """Tasks whose docs are :class:`~mmpriv_tasks.inputs.task_data.Rows` keep only this slice's row
    dicts (None: all again)."""
    for name, task in tasks.items():
        focus = getattr(task.eval_docs, "focus", None)
        if focus is not None:
            focus(None if chosen is None else chosen.get(name, range(0)))


def _tally(raw: dict, records: list[dict]) -> None:
    """Adds the records' metric values to ``raw`` (``{(metric, filter): values}``), as ``evaluate`` does."""
    for record in records:
        for metric in record["metrics"]:
            raw[(metric, record["filter"])].append(record[metric])


def evaluate_in_slices(lm, loaded: dict, *, on_samples: Callable[[str, list], None] | None, limit=None,
                       samples: dict | None = None, bootstrap_iters: int | None = 100000, write_out: bool = False,
                       cache_requests: bool = False, **evaluate_kwargs) -> tuple[dict | None, RawMetrics]:
    """``lm_eval.evaluator.evaluate(lm, loaded, ...)`` slice by slice: ``(results without samples, raw
    metrics)``; ``(None, {})`` off rank 0. ``on_samples(task, records)`` gets each slice's sample
    records in doc order (None: discarded)."""
    from lm_eval.evaluator import evaluate
    from lm_eval.evaluator_utils import _process_results

    tasks = loaded["tasks"]
    slices = plan(tasks, limit, samples, cache_requests)
    raw: RawMetrics = {name: defaultdict(list) for name in tasks}
    for number, chosen in enumerate(slices, 1):
        if not chosen:  # no task has a doc to score
            continue
        if len(slices) > 1:
            log.info("mmpriv: slice %d/%d: %d docs (%s=%d)", number, len(slices), sum(map(len, chosen.values())),
                     SLICE_REQUESTS_ENV, requests_per_slice())
        _focus(tasks, chosen)
        part = evaluate(lm=lm, task_dict={"tasks": {name: tasks[name] for name in chosen}, "groups": {}},
                        samples=chosen, bootstrap_iters=0, log_samples=True, write_out=write_out and number == 1,
                        cache_requests=cache_requests, **evaluate_kwargs)
        if part is None:  # not rank 0 under data parallel
            continue
        for name, records in part.pop("samples").items():
            _tally(raw[name], records)
            if on_samples is not None:
                on_samples(name, records)
        del part
    _focus(tasks, None)
    if lm.rank != 0:
        return None, {}
    accumulated = {name: {"task": task, "raw_metrics": raw[name], "logged_samples": []} for name, task in tasks.items()}
    results = _process_results(accumulated, loaded.get("groups", {}), bootstrap_iters)._to_eval_results(samples=None)
    return results, {name: dict(metrics) for name, metrics in raw.items()}
