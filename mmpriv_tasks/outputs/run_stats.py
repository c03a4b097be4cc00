"""The uncertainty a run's results JSON carries, added by ``mmpriv run`` before publishing.

lm-eval 0.4.13 computes a stderr only for aggregation functions it knows by identity (``mean``,
``acc_all``, a fixed bootstrappable list) and writes ``"N/A"`` for ours. Its hooks offer no way to
register a stderr for a custom aggregation, so this module fills ``<metric>_stderr,<filter>`` from the
run's per-sample values (the ones lm-eval aggregated) and the aggregation each task's YAML names:

- means of 0/1 flags (``mean_of_scored``, ``mean``): binomial, sample sd / sqrt(n scored), as lm-eval's
  ``mean_stderr``;
- macro-F1, chance, blind entropy and shares: a seeded bootstrap (``scoring.aggregate.COUNT_FORMS``) of
  ``min(--bootstrap_iters, BOOTSTRAP_CAP)`` draws (lm-eval also caps its costly bootstraps);
- groups: lm-eval's own ``pooled_sample_stderr`` (or ``unweighted_mean_stderr``) over the new task
  stderrs, as ``Group.aggregate`` would have combined them.

Every stderr is then a number or null (no decision, fewer than two scored samples, a record such as
``scoring_mode``, or ``--bootstrap_iters 0``), and every NaN in the results becomes null (strict JSON),
with the reason in ``mmpriv_statistics.null``.
"""
from __future__ import annotations

import math
from typing import Any

from mmpriv_tasks.scoring import aggregate, stats

BOOTSTRAP_CAP = 2000
NO_DECISION = "no scored sample (every sample errored or the metric does not apply)"
METHOD = ("rates: binomial stderr (sample sd of the 0/1 flags / sqrt(n scored)); macro_f1, chance, blind_entropy "
          "and shares: seeded bootstrap; groups: lm-eval's pooled_sample_stderr; null: no stderr (see `null`)")


def _aggregation_name(metric: dict) -> str:
    """``mean_of_scored`` for ``!function mmpriv_tasks.scoring.aggregate.mean_of_scored``, ``mean`` for ``mean``."""
    return str(metric.get("aggregation", "")).split()[-1].rsplit(".", 1)[-1]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def task_stderr(aggregation: str, values: list, iters: int, seed: int) -> float | None:
    """The stderr of one metric of one task from its per-sample values (None where there is none)."""
    if iters <= 0:
        return None
    if aggregation in aggregate.BINOMIAL:
        return stats.binomial_stderr(values)
    if aggregation in aggregate.COUNT_FORMS:
        to_counts, statistic = aggregate.COUNT_FORMS[aggregation]
        return stats.bootstrap_stderr(statistic, to_counts(values), min(iters, BOOTSTRAP_CAP), seed)
    return None


def _tasks(results: dict, raw_metrics: dict, entries: dict, iters: int, seed: int) -> None:
    for task, per_metric in raw_metrics.items():
        entry, metrics = entries.get(task), results["results"].get(task)
        if entry is None or metrics is None:
            continue  # not one of ours (a standard lm-eval task keeps lm-eval's stderr)
        aggregations = {metric["metric"]: _aggregation_name(metric) for metric in entry.config.get("metric_list") or []}
        for (name, filter_key), values in per_metric.items():
            key = f"{name},{filter_key}"
            if name in aggregations and key in metrics:
                metrics[f"{name}_stderr,{filter_key}"] = (
                    task_stderr(aggregations[name], values, iters, seed) if _number(metrics[key]) else None)


def _leaves(group: str, subtasks: dict) -> list[str]:
    return [leaf for member in subtasks.get(group, []) for leaf in (_leaves(member, subtasks) if member in subtasks
                                                                      else [member])]


def _groups(results: dict, entries: dict) -> None:
    from lm_eval.api.metrics import pooled_sample_stderr, unweighted_mean_stderr

    subtasks = results.get("group_subtasks") or {}
    for group in subtasks:
        entry, metrics = entries.get(group), results["results"].get(group)
        if entry is None or metrics is None:
            continue
        leaves = [results["results"][t] for t in _leaves(group, subtasks) if t in results["results"]]
        for config in entry.config.get("aggregate_metric_list") or []:
            for key in [k for k in metrics if k.startswith(f"{config['metric']},")]:
                stderr_key = key.replace(",", "_stderr,", 1)
                members = [leaf for leaf in leaves if key in leaf]
                stderrs = [leaf.get(stderr_key) for leaf in members]
                sizes = [leaf.get("sample_len", 0) for leaf in members]
                if not members or not _number(metrics[key]) or not all(_number(s) for s in stderrs) \
                        or sum(sizes) <= len(sizes):
                    metrics[stderr_key] = None
                elif config.get("weight_by_size", True):
                    metrics[stderr_key] = float(pooled_sample_stderr(stderrs, sizes))
                else:
                    metrics[stderr_key] = float(unweighted_mean_stderr(stderrs))


def _strict(value: Any, path: tuple, nulls: dict) -> Any:
    """``value`` with every NaN/inf replaced by None (reasons of result values recorded in ``nulls``)."""
    if isinstance(value, dict):
        return {k: _strict(v, (*path, k), nulls) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v, path, nulls) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        if len(path) == 3 and path[0] == "results" and "_stderr," not in path[2]:
            nulls.setdefault(path[1], {})[path[2]] = NO_DECISION
        return None
    return value


def add_uncertainty(results: dict, entries: dict, raw_metrics: dict) -> dict:
    """Sets a number-or-null stderr for every metric of our tasks and groups in ``results`` (lm-eval's;
    ``entries``: ``packs.entries()``; ``raw_metrics``: ``{task: {(metric, filter): per-sample values}}``,
    what lm-eval aggregated) and returns a copy with no NaN anywhere."""
    config = results.get("config") or {}
    iters = int(config.get("bootstrap_iters") or 0)
    seed = config.get("numpy_seed")
    seed = stats.DEFAULT_SEED if seed is None else int(seed)
    _tasks(results, raw_metrics, entries, iters, seed)
    _groups(results, entries)
    for task in results.get("results", {}):
        if task in entries:
            metrics = results["results"][task]
            for key, value in metrics.items():
                if "_stderr," in key and not _number(value):
                    metrics[key] = None
    if "groups" in results:  # lm-eval's copy of the group rows
        results["groups"] = {g: results["results"].get(g, row) for g, row in results["groups"].items()}
    nulls: dict = {}
    strict = {k: (v if k == "samples" else _strict(v, (k,), nulls)) for k, v in results.items()}
    strict["mmpriv_statistics"] = {"stderr": METHOD, "bootstrap_iters": min(iters, BOOTSTRAP_CAP), "seed": seed,
                                   "null": nulls}
    return strict
