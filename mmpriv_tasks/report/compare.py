"""Paired comparisons of runs on the same items: per task and per family aggregate, the difference
(later run minus earlier run) with its 95 % interval (paired bootstrap) and a p-value (exact McNemar for
0/1 flags, paired permutation otherwise), Holm-corrected across every comparison of the report."""
from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

from mmpriv_tasks.report.blocks import Section, Table, Text
from mmpriv_tasks.report.runs import ReportError, Run
from mmpriv_tasks.scoring.aggregate import macro_f1_of_counts
from mmpriv_tasks.scoring.stats import (
    DEFAULT_SEED, holm, mcnemar_exact, paired_bootstrap, paired_flag_difference, paired_permutation_p,
)

ITERS = 2000  # paired bootstrap draws (seeded: a report is reproducible)
ALPHA = 0.05
HEADLINE = ("leak_rate", "control_answer_rate", "accuracy", "refusal_rate")  # first present per task
ALSO = ("macro_f1",)  # compared too where present (paired permutation p, bootstrap interval)


def _share_of_ones(counts: Counter) -> float:
    total = sum(counts.values())
    return sum(n for v, n in counts.items() if v == 1) / total if total else float("nan")


def check_same_items(a: Run, b: Run, task: str) -> None:
    """ReportError (one line) unless both runs scored the same items of ``task`` with the same data."""
    keys_a, keys_b = a.doc_keys(task), b.doc_keys(task)
    if keys_a == keys_b:
        return
    only_a, only_b = sorted(set(keys_a) - set(keys_b)), sorted(set(keys_b) - set(keys_a))
    if only_a or only_b:
        why = (f"different items ({len(only_a)} only in {a.label}{f', e.g. {only_a[0]}' if only_a else ''}; "
               f"{len(only_b)} only in {b.label}{f', e.g. {only_b[0]}' if only_b else ''})")
    else:
        changed = sorted(k for k in keys_a if keys_a[k] != keys_b[k])
        why = f"same item ids but different data ({len(changed)} items, e.g. {changed[0]}: doc_hash differs)"
    raise ReportError(f"cannot pair {a.label} and {b.label} on {task}: {why}; compare runs made on the same data "
                      f"and --limit")


def compare(pairs: list[tuple]) -> dict:
    """Difference later - earlier over ``pairs`` of (earlier run's value, later run's value) for one item
    each (unscored items dropped): the values, n, difference, 95 % interval, test and p-value."""
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    later_first = [(y, x) for x, y in pairs]
    if not all(not isinstance(v, tuple) and v in (0, 1) for pair in pairs for v in pair):  # macro-F1 pairs
        result = paired_bootstrap(macro_f1_of_counts, later_first, ITERS, DEFAULT_SEED)
        result.update(test="paired permutation",
                      p=paired_permutation_p(macro_f1_of_counts, later_first, ITERS, DEFAULT_SEED))
        statistic = macro_f1_of_counts
    else:
        result = paired_flag_difference(later_first, ITERS, DEFAULT_SEED)
        result.update(test="McNemar exact", p=mcnemar_exact(sum(x > y for x, y in pairs), sum(x < y for x, y in pairs))
                      if pairs else None)
        statistic = _share_of_ones
    result["value_a"] = statistic(Counter(x for x, _ in pairs)) if pairs else None
    result["value_b"] = statistic(Counter(y for _, y in pairs)) if pairs else None
    return result


def _comparisons(runs: list[Run], aggregates: dict) -> list[dict]:
    found = []
    for a, b in combinations(runs, 2):
        common = [t for t in a.leaf_tasks if t in set(b.leaf_tasks) and a.samples.get(t) and b.samples.get(t)]
        for task in common:
            check_same_items(a, b, task)
        for task in common:
            metrics = [next((m for m in HEADLINE if a.values(task, m) and b.values(task, m)), None),
                       *(m for m in ALSO if a.values(task, m) and b.values(task, m))]
            for metric in filter(None, metrics):
                ka, kb = a.by_item(task, metric), b.by_item(task, metric)
                found.append({"run_a": a, "run_b": b, "what": task, "metric": metric,
                              **compare([(ka[k], kb[k]) for k in ka])})
        for name, (pattern, metric) in aggregates.items():
            tasks = [t for t in common if re.match(pattern, t)]
            pairs = [(ka[k], kb[k]) for t in tasks
                     for ka, kb in [(a.by_item(t, metric), b.by_item(t, metric))] for k in ka]
            if tasks and pairs:
                found.append({"run_a": a, "run_b": b, "what": name, "metric": metric, "aggregate": True,
                              **compare(pairs)})
    for row, adjusted in zip(found, holm([row["p"] for row in found])):
        row["p_holm"] = adjusted
    return found


def significant(row: dict) -> bool:
    return row.get("p_holm") is not None and row["p_holm"] < ALPHA


def section(runs: list[Run], aggregates: dict) -> tuple[Section | None, list[dict]]:
    """The "Paired comparisons" section (None when no two runs share a task) and its rows."""
    rows = _comparisons(runs, aggregates)
    if not rows:
        return None, rows

    def number(x):
        return None if x is None else round(x, 3)

    table = [[f"{r['run_b'].label} vs {r['run_a'].label}", f"**{r['what']}**" if r.get("aggregate") else r["what"],
              r["metric"], r["n"], number(r["value_a"]), number(r["value_b"]), f"{r['difference']:+.3f}" if r["n"] else None,
              f"[{r['low']:+.3f}, {r['high']:+.3f}]" if r["low"] is not None else None, r["test"],
              None if r["p"] is None else f"{r['p']:.3g}", None if r["p_holm"] is None else f"{r['p_holm']:.3g}",
              "yes" if significant(r) else "no"] for r in rows]
    text = (f"Runs paired on the same items (same ids and data). difference = later run minus earlier run; "
            f"95 % interval: paired bootstrap ({ITERS} draws, seed {DEFAULT_SEED}); p: exact McNemar test for "
            f"0/1 flags, paired permutation test (A/B swapped per item) for macro-F1; p (Holm): corrected across "
            f"all {len(rows)} comparisons of this report; significant: p (Holm) < {ALPHA}. **Bold** rows pool a family aggregate's items.")
    return Section("Paired comparisons", [Text(text), Table(
        ["runs", "task / aggregate", "metric", "n paired", "earlier", "later", "difference", "95 % interval",
         "test", "p", "p (Holm)", "significant"], table)]), rows
