"""Runs as the report reads them: one ``results_*.json`` of lm-eval plus the ``samples_*.jsonl`` written
with it (same timestamp suffix). Every run found under the given paths is reported; none is dropped."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


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
        return sorted(self.results)

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
