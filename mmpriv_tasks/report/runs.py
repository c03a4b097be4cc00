"""Runs as the report reads them: one ``results_*.json`` of lm-eval plus the ``samples_*.jsonl`` written
with it (same timestamp suffix). Every run found under the given paths is reported; none is dropped."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mmpriv_tasks.report.blocks import Rate
from mmpriv_tasks.scoring.stats import Z95, wilson


class ReportError(ValueError):
    """The paths given lack what a report needs; the message says what."""


@dataclass
class Run:
    results_file: Path
    payload: dict
    label: str = ""  # unique display name (the model, plus the date when a model ran twice)

    @property
    def stamp(self) -> str:
        return self.results_file.stem.removeprefix("results_")

    @property
    def results(self) -> dict:
        return self.payload.get("results", {})

    @property
    def model(self) -> str:
        config = self.payload.get("config") or {}
        args = config.get("model_args") or {}
        named = isinstance(args, dict) and any(args.get(k) for k in ("pretrained", "model", "path", "engine", "peft"))
        return str(self.payload.get("model_name") if named else config.get("model") or self.payload.get("model_name"))

    @property
    def tasks(self) -> list[str]:
        """Tasks and groups with results."""
        return sorted(self.results)

    @property
    def groups(self) -> list[str]:
        return sorted(g for g in self.payload.get("group_subtasks") or {} if g in self.results)

    @property
    def leaf_tasks(self) -> list[str]:
        return [t for t in self.tasks if t not in (self.payload.get("group_subtasks") or {})]

    def leaves(self, group: str) -> list[str]:
        """The tasks under ``group``, nested groups expanded (``[group]`` for a task)."""
        members = (self.payload.get("group_subtasks") or {}).get(group)
        return [group] if members is None else [leaf for m in members for leaf in self.leaves(m)]

    @property
    def limit(self) -> float | None:
        """lm-eval's ``--limit`` of this run (None: every item)."""
        return (self.payload.get("config") or {}).get("limit")

    def _rows(self, task: str) -> list[dict]:
        """The task's sample records of its first filter (one per doc)."""
        rows = self.samples.get(task) or []
        return [row for row in rows if row.get("filter", "none") == rows[0].get("filter", "none")]

    @staticmethod
    def _item(row: dict) -> str:
        return str(row.get("doc", {}).get("id", row.get("doc_id")))

    def values(self, task: str, name: str) -> list | None:
        """The per-sample values of metric ``name`` (None: not scored), one per doc; None without samples."""
        rows = self._rows(task)
        return [row.get(name) for row in rows] if any(name in row for row in rows) else None

    def by_item(self, task: str, name: str) -> dict[str, object]:
        """``item id -> value`` of metric ``name`` (lists as tuples, so they can be counted)."""
        return {self._item(row): tuple(v) if isinstance(v := row.get(name), list) else v for row in self._rows(task)}

    def doc_keys(self, task: str) -> dict[str, str]:
        """``item id -> doc_hash`` of the items a task scored (what pairing two runs compares)."""
        return {self._item(row): row.get("doc_hash", "") for row in self._rows(task)}

    def rate(self, task: str, name: str) -> Rate | None:
        """``name`` of ``task`` as a :class:`Rate`: 0/1 flags from the samples give the Wilson interval over
        the scored samples; other statistics use value +- 1.96 stderr; a group pools its tasks' samples."""
        flags = [v for leaf in self.leaves(task) for v in (self.values(leaf, name) or [])]
        scored = [v for v in flags if v is not None]
        if scored and all(isinstance(v, (bool, int, float)) and v in (0, 1) for v in scored):
            low, high = wilson(int(sum(scored)), len(scored))
            return Rate(sum(scored) / len(scored), low, high, len(scored))
        value = self.metric(task, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None if value is None and not flags else Rate(None, n=len(scored))
        stderr = self.metric(task, f"{name}_stderr")
        if isinstance(stderr, (int, float)) and not isinstance(stderr, bool):
            return Rate(value, max(0.0, value - Z95 * stderr), value + Z95 * stderr, len(scored) or self.n(task))
        return Rate(value, n=len(scored) or self.n(task))

    def metric(self, task: str, name: str):
        """``name`` of ``task`` (lm-eval's ``"<name>,none"`` key), or None."""
        value = self.results.get(task, {}).get(f"{name},none")
        return None if isinstance(value, float) and math.isnan(value) else value

    def n(self, task: str) -> int | None:
        """Samples scored for a task; for a group, the sum over its subtasks."""
        counts = self.payload.get("n-samples", {})
        if task in counts:
            return counts[task].get("effective")
        members = (self.payload.get("group_subtasks") or {}).get(task)
        if not members:
            return None
        values = [self.n(member) for member in members]
        return sum(v for v in values if v is not None) if any(v is not None for v in values) else None

    def pooled(self, pattern: str, metric: str) -> Rate | None:
        """``metric`` pooled over every scored sample of this run's tasks whose name matches ``pattern``
        (without samples: the task values weighted by their sample counts); None when no task matches."""
        tasks = [t for t in self.leaf_tasks
                 if re.match(pattern, t) and (self.values(t, metric) or self.metric(t, metric) is not None)]
        if not tasks:
            return None
        flags = [v for t in tasks for v in (self.values(t, metric) or []) if v is not None]
        if flags:
            return Rate(sum(flags) / len(flags), *wilson(int(sum(flags)), len(flags)), len(flags))
        weighted = [(self.metric(t, metric), self.n(t) or 0) for t in tasks if self.metric(t, metric) is not None]
        total = sum(n for _, n in weighted)
        return Rate(sum(v * n for v, n in weighted) / total if total else None, n=total)

    @cached_property
    def samples(self) -> dict[str, list[dict]]:
        """Per-task sample records of this run (empty when it ran without ``--log_samples``)."""
        found = {}
        for path in self.results_file.parent.glob(f"samples_*_{self.stamp}.jsonl"):
            task = path.name.removeprefix("samples_").removesuffix(f"_{self.stamp}.jsonl")
            with open(path, encoding="utf-8") as handle:
                found[task] = [json.loads(line) for line in handle if line.strip()]
        return found


def find_runs(sources: list[Path]) -> list[Run]:
    """Every run under ``sources`` (output folders, model folders or results files), oldest first,
    each labelled uniquely."""
    files: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_file() and source.name.startswith("results_") and source.suffix == ".json":
            files.append(source)
        elif source.is_dir():
            found = sorted(source.rglob("results_*.json"))
            if not found:
                raise ReportError(f"{source}: no results_*.json (run `mmpriv run ... --output_path {source}`)")
            files += found
        else:
            raise ReportError(f"{source}: not a folder or results_*.json file")
    runs = []
    for path in dict.fromkeys(p.resolve() for p in files):
        try:
            runs.append(Run(path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            raise ReportError(f"{path}: not an lm-eval results file ({exc})") from exc
    for run in runs:
        check_complete(run)
    runs.sort(key=lambda r: r.stamp)
    models = [r.model for r in runs]
    for run in runs:
        run.label = run.model if models.count(run.model) == 1 else f"{run.model} ({run.stamp[:16]})"
    return runs


def check_complete(run: Run) -> None:
    """Refuse a run whose sample logs are missing, short or cut off (a run killed while writing):
    when any task of the run logged samples, every task must have logged all it scored."""
    logged = {path.name.removeprefix("samples_").removesuffix(f"_{run.stamp}.jsonl"): path
              for path in run.results_file.parent.glob(f"samples_*_{run.stamp}.jsonl")}
    if not logged:
        return  # a run without --log_samples
    for task, counts in sorted((run.payload.get("n-samples") or {}).items()):
        lines = _complete_lines(logged[task]) if task in logged else 0
        if lines != counts.get("effective"):
            raise ReportError(f"{run.results_file}: incomplete run (task {task}: {lines} of "
                              f"{counts.get('effective')} samples logged); run it again")


def _complete_lines(path: Path) -> int:
    """Newline-terminated lines of a file (a cut-off last line is not counted)."""
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
