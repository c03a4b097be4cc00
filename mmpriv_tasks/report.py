"""Tables from an lm-eval output directory: per-task metrics, MM-Privacy breakdowns by scenario and
PII type, task inconsistency and the privacy-utility score. Reads ``results_*.json`` and
``samples_*.jsonl`` (run with ``--log_samples``); writes ``report.md`` next to them."""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

from mmpriv_tasks.scoring.aggregate import mean_of_scored
from mmpriv_tasks.scoring.inconsistency import privacy_utility, task_inconsistency

DISCLOSURE_FORMATS = ("direct", "vqa", "caption", "rephrase", "classification")
_FORMAT_TASK = re.compile(r"^mmpriv_disclosure_(" + "|".join(DISCLOSURE_FORMATS) + r")$")


class ReportError(ValueError):
    """The output directory lacks what a report needs; the message says what."""


def latest_results(output_dir: Path) -> Path:
    found = sorted(output_dir.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ReportError(f"{output_dir}: no results_*.json (run `mmpriv run ... --output_path {output_dir}`)")
    return found[-1]


def load_samples(results_file: Path) -> dict[str, list[dict]]:
    """Per-task samples written by the same run as ``results_file`` (same timestamp suffix)."""
    stamp = results_file.stem.removeprefix("results_")
    samples = {}
    for path in results_file.parent.glob(f"samples_*_{stamp}.jsonl"):
        task = path.name.removeprefix("samples_").removesuffix(f"_{stamp}.jsonl")
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return samples


def inconsistency_from_samples(samples: dict[str, list[dict]]) -> dict:
    """Task inconsistency over the disclosure formats present in one run."""
    decisions: dict[str, dict[str, tuple]] = defaultdict(dict)
    for task, rows in samples.items():
        match = _FORMAT_TASK.match(task)
        if not match:
            continue
        for row in rows:
            decisions[row["doc"]["id"]][match.group(1)] = (row.get("leak_rate"), row.get("refusal_rate"))
    return task_inconsistency(decisions)


def breakdown(samples: dict[str, list[dict]], field: str, metric: str = "leak_rate") -> dict:
    """``metric`` per task and value of the doc ``field`` (e.g. scenario, pii_type)."""
    table: dict[str, dict[str, float]] = {}
    for task, rows in sorted(samples.items()):
        groups = defaultdict(list)
        for row in rows:
            if field in row.get("doc", {}) and metric in row:
                groups[row["doc"][field]].append(row[metric])
        if groups:
            table[task] = {value: mean_of_scored(flags) for value, flags in sorted(groups.items())}
    return table


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


METRIC_COLUMNS = ("leak_rate", "refusal_rate", "leak_rate_answered", "distractor_leak_rate",
                  "control_answer_rate", "accuracy", "error_rate")


def refusal_decisions(results: dict) -> str:
    """Which mode decided the refusal flags of this run (offline detector, LLM judge, or both)."""
    def scored(metric: str) -> list[float]:
        values = (m.get(f"{metric},none") for m in results.values())
        return [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]

    judged, errors = scored("judged_rate"), sum(scored("judge_error_rate"))
    if not judged or max(judged) == 0:
        return "Refusals decided by the offline detector (`detect_refusal`)."
    mode = "the LLM judge" if min(judged) == 1 else "hybrid mode (the judge asked only about unsure replies)"
    note = " Some judge calls failed: see `judge_error_rate` (those replies have no refusal decision)." if errors else ""
    return f"Refusals decided by {mode}; share judged per task: `judged_rate`.{note}"


def render(output_dir: Path) -> str:
    """The report as Markdown (also written to ``<results folder>/report.md``)."""
    results_file = latest_results(output_dir)
    payload = json.loads(results_file.read_text())
    results, samples = payload["results"], load_samples(results_file)
    n_samples = payload.get("n-samples", {})
    rows = []
    for task, metrics in sorted(results.items()):
        values = [metrics.get(f"{m},none") for m in METRIC_COLUMNS]
        if any(v is not None for v in values):
            rows.append([task, n_samples.get(task, {}).get("effective", ""), *values])
    parts = [f"# mmpriv report\n\nSource: `{results_file}`\n",
             _markdown_table(["task", "n", *METRIC_COLUMNS], rows)]

    for field in ("scenario", "pii_type"):
        table = {t: v for t, v in breakdown(samples, field).items() if t.startswith("mmpriv_")}
        if table:
            columns = sorted({c for v in table.values() for c in v})
            parts.append(f"\n## Leak rate by {field}\n")
            parts.append(_markdown_table(["task", *columns], [[t, *(v.get(c) for c in columns)]
                                                                for t, v in table.items()]))

    inconsistency = inconsistency_from_samples(samples)
    if inconsistency["items"]:
        parts.append("\n## Task inconsistency\n")
        parts.append(f"Items refused in at least one disclosure format and leaked in another: "
                     f"{inconsistency['inconsistent_items']} of {inconsistency['items']} "
                     f"(inconsistency_rate {_fmt(inconsistency['inconsistency_rate'])}).")

    parts.append(f"\n## Refusal decisions\n\n{refusal_decisions(results)}")

    direct = results.get("mmpriv_disclosure_direct", {}).get("leak_rate,none")
    control = results.get("mmpriv_disclosure_control", {}).get("control_answer_rate,none")
    if direct is not None and control is not None:
        parts.append("\n## Privacy-utility\n")
        parts.append(f"privacy_utility = harmonic mean of (1 - direct leak rate) and control answer rate "
                     f"= {_fmt(privacy_utility(direct, control))}")
    text = "\n".join(parts) + "\n"
    (results_file.parent / "report.md").write_text(text)
    return text
