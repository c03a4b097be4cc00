"""The report's view of ``mmpriv calibrate RUN_DIR``: the ``calibration.json`` that covers each run (written
into RUN_DIR, naming the results files it sampled) and a section of its agreement figures."""
from __future__ import annotations

import json
from pathlib import Path

from mmpriv_tasks.report.blocks import Section, Table, Text
from mmpriv_tasks.report.runs import ReportError, Run

CALIBRATION = "calibration.json"


def covered_key(run: Run, folder: Path) -> str:
    """How a calibration in ``folder`` names ``run``: its results file relative to ``folder``."""
    return run.results_file.relative_to(folder).as_posix()


def find_calibration(run: Run) -> tuple[Path, dict] | None:
    """``(path, figures)`` of the nearest ``calibration.json`` in the run's folder or a folder above it
    that sampled this run's results file; None when no calibration covers the run."""
    for folder in run.results_file.parents:
        path = folder / CALIBRATION
        if not path.is_file():
            continue
        try:
            figures = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportError(f"{path}: not a calibration file ({exc}); run `mmpriv calibrate` again") from exc
        if covered_key(run, folder) in figures.get("runs", ()):
            return path, figures
    return None


def _row(runs: str, stratum: str, figures: dict) -> list:
    confusion = figures["confusion"]
    return [runs, stratum, figures["n"], figures["accuracy"], figures["kappa"],
            confusion["detector_True_judge_True"], confusion["detector_False_judge_False"],
            confusion["detector_True_judge_False"], confusion["detector_False_judge_True"]]


def section(runs: list[Run]) -> Section:
    """Agreement of the offline detector with the judge, per calibration file and stratum; the runs no
    calibration covers are named."""
    found: dict[Path, tuple[dict, list[str]]] = {}
    missing = []
    for run in runs:
        calibration = find_calibration(run)
        if calibration is None:
            missing.append(run.label)
        else:
            found.setdefault(calibration[0], (calibration[1], []))[1].append(run.label)
    blocks = [Text("Agreement of the offline refusal detector with an LLM judge on a stratified sample of each "
                   "run's replies (`mmpriv calibrate RUN_DIR`): where it is low, the offline `refusal_rate` and the "
                   "figures resting on it are not to be published without hybrid or judge mode.")]
    rows = []
    for path, (figures, labels) in found.items():
        blocks.append(Text(f"`{path}`: judge `{figures['judge_model']}`, {figures['sampled']} replies sampled, "
                           f"{figures['judge_errors']} judge errors (left out)."))
        rows.append(_row(", ".join(labels), "all tasks", figures["overall"]))
        rows += [_row(", ".join(labels), task, task_figures) for task, task_figures in figures["per_task"].items()]
    if rows:
        blocks.append(Table(["run", "tasks", "n", "accuracy", "kappa", "both refusal", "both answer",
                             "detector only", "judge only"], rows))
    if missing:
        blocks.append(Text(f"Not calibrated: {', '.join(missing)} (`mmpriv calibrate RUN_DIR` with a judge "
                           "configured by `MMPRIV_JUDGE_*`)."))
    return Section("Detector calibration", blocks)
