"""The results table ``mmpriv run`` prints: lm-eval's ``make_table`` columns and row order, as plain Markdown.

lm-eval builds its table with pytablewriter, whose import and per-cell type detection (twice: a LaTeX
writer is filled too) cost ~0.2 s, a tenth of a one-sample API run. Here the rows come in lm-eval's
order (its own ``_build_hierarchy_info``) and cells are formatted once:
floats to four decimals, a missing value or stderr (null in the results JSON) as ``N/A``, numbers
right-aligned.

>>> print(markdown_table({"results": {"t": {"alias": "t", "acc,none": 0.5, "acc_stderr,none": None}},
...                       "versions": {"t": 1.0}, "n-shot": {"t": 0}, "higher_is_better": {"t": {"acc": True}}}))
|Tasks|Version|Filter|n-shot|Metric|   |Value |   |Stderr|
|-----|------:|------|-----:|------|---|-----:|---|-----:|
|t    |      1|none  |     0|acc   |↑  |0.5000|±  |   N/A|
"""
from __future__ import annotations

from lm_eval.utils import HIGHER_IS_BETTER_SYMBOLS, _build_hierarchy_info  # make_table's own pieces

RIGHT_ALIGNED = {1, 3, 6, 8}  # Version, n-shot, Value, Stderr


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "N/A" if value is None else str(value)


def _rows(results: dict, column: str) -> list[list[str]]:
    rows = []
    depths, names = _build_hierarchy_info(results.get("group_subtasks", {}), set(results[column]))
    for name in names:
        depth = depths.get(name, 0)
        metrics = dict(results[column][name])
        label = " " * depth + "- " + metrics.pop("alias", name) if depth else metrics.pop("alias", name)
        version = results["versions"].get(name, "N/A")
        version = f"{version:g}" if isinstance(version, float) else str(version)
        shots = str(results.get("n-shot", {}).get(name, " "))
        higher = results.get("higher_is_better", {}).get(name, {})
        for key, value in sorted(metrics.items()):
            metric, _, filter_name = key.partition(",")
            if metric in ("name", "sample_len", "sample_count") or metric.endswith("_stderr"):
                continue
            stderr_key = f"{metric}_stderr,{filter_name}"
            stderr = ("±", _cell(metrics[stderr_key])) if stderr_key in metrics else ("", "")
            rows.append([label, version, filter_name, shots, metric,
                         HIGHER_IS_BETTER_SYMBOLS.get(higher.get(metric), ""), _cell(value), *stderr])
            label = version = ""
    return rows


def markdown_table(results: dict, column: str = "results") -> str:
    """The ``results`` (or ``groups``) part of lm-eval's results as a Markdown table."""
    header = ["Groups" if column == "groups" else "Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value",
              "", "Stderr"]
    rows = _rows(results, column)
    widths = [max(3, *(len(row[i]) for row in (header, *rows))) for i in range(len(header))]

    def line(cells: list[str], pad_right: bool = False) -> str:
        return "|" + "|".join(cell.rjust(w) if i in RIGHT_ALIGNED and pad_right else cell.ljust(w)
                              for i, (cell, w) in enumerate(zip(cells, widths))) + "|"

    rule = "|" + "|".join("-" * (w - 1) + ":" if i in RIGHT_ALIGNED else "-" * w for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(row, pad_right=True) for row in rows)])
