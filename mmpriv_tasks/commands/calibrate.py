"""``mmpriv calibrate RUN_DIR``: how far the offline refusal detector agrees with an LLM judge on
a finished run's own replies.

Samples up to ``--n`` replies from the run's ``samples_*.jsonl`` (``--log_samples``), stratified by
task (by model and task when RUN_DIR holds several runs; equal shares, a task with fewer replies
gives its share to the others; seeded), asks the judge configured by the ``MMPRIV_JUDGE_*``
variables (:mod:`mmpriv_tasks.scoring.judge`, requests sent concurrently), and prints accuracy,
Cohen's kappa and the confusion matrix of :func:`~mmpriv_tasks.scoring.refusal.detect_refusal`
against the judge, over all and per task. Writes ``calibration.json`` (the figures, and the results files
sampled, so ``mmpriv report`` shows them with those runs) and
``calibration_disagreements.jsonl`` (the replies they disagree on, for inspection; mode 0600) into
RUN_DIR. Errored samples are skipped; judge errors are counted and left out of the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import random
from collections import defaultdict
from pathlib import Path

from mmpriv_tasks.report.calibration import CALIBRATION, covered_key
from mmpriv_tasks.report.runs import ReportError, Run, find_runs
from mmpriv_tasks.scoring.judge import get_judge, judge_model
from mmpriv_tasks.scoring.reasoning import final_answer
from mmpriv_tasks.scoring.refusal import detect_refusals

SUMMARY = CALIBRATION
DISAGREEMENTS = "calibration_disagreements.jsonl"


def _reply(sample: dict) -> str | None:
    """The scored reply of an lm-eval sample record, or None when the sample errored or has none."""
    if sample.get("error_rate") == 1:
        return None
    filtered = sample.get("filtered_resps") or sample.get("resps") or []
    while isinstance(filtered, list) and filtered:
        filtered = filtered[0]
    return filtered if isinstance(filtered, str) and filtered.strip() else None


def stratified_sample(by_task: dict[str, list[dict]], n: int, seed: int = 0) -> list[dict]:
    """Up to ``n`` items, tasks taking turns (seeded shuffle within each task)."""
    rng = random.Random(seed)
    queues = {task: rng.sample(items, len(items)) for task, items in sorted(by_task.items())}
    chosen: list[dict] = []
    while len(chosen) < n and any(queues.values()):
        for task in list(queues):
            if queues[task] and len(chosen) < n:
                chosen.append(queues[task].pop())
    return chosen


def agreement(pairs: list[tuple[bool, bool]]) -> dict:
    """Accuracy, Cohen's kappa and confusion counts of (detector, judge) decisions."""
    n = len(pairs)
    counts = {f"detector_{d}_judge_{j}": sum(1 for p in pairs if p == (d, j))
              for d in (True, False) for j in (True, False)}
    if not n:
        return {"n": 0, "accuracy": None, "kappa": None, "confusion": counts}
    observed = sum(d == j for d, j in pairs) / n
    detector_yes, judge_yes = sum(d for d, _ in pairs) / n, sum(j for _, j in pairs) / n
    expected = detector_yes * judge_yes + (1 - detector_yes) * (1 - judge_yes)
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    return {"n": n, "accuracy": round(observed, 4), "kappa": round(kappa, 4), "confusion": counts}


def _collect(run_dir: Path) -> tuple[dict[str, list[dict]], list[Run]]:
    """(task stratum -> scored replies, the runs under ``run_dir``)."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    runs = find_runs([run_dir])
    for run in runs:
        for name, samples in run.samples.items():
            task = name if len(runs) == 1 else f"{run.label}: {name}"  # several runs: a stratum per run and task
            for sample in samples:
                reply = _reply(sample)
                if reply is not None:
                    doc = sample.get("doc") or {}
                    by_task[task].append({"task": task, "doc_id": sample.get("doc_id"), "reply": reply,
                                          "question": str(doc.get("question") or "")})
    if not by_task:
        raise ReportError(f"{run_dir}: no scored replies in samples_*.jsonl (run with --log_samples)")
    return by_task, runs


def calibrate(run_dir: Path, n: int = 200, seed: int = 0) -> dict:
    """Ask the judge about a stratified sample of the run's replies; write and return the figures."""
    by_task, runs = _collect(run_dir)
    items = stratified_sample(by_task, n, seed)
    # the judge reads each reply as the tasks score it: its answer, without a reasoning block
    verdicts = get_judge().judge_many([(final_answer(item["reply"]), item["question"]) for item in items])
    detected = detect_refusals(item["reply"] for item in items)
    pairs_by_task: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    disagreements, errors = [], 0
    for item, verdict, refused in zip(items, verdicts, detected):
        if verdict.error:
            errors += 1
            continue
        pair = (refused, bool(verdict.is_refusal))
        pairs_by_task[item["task"]].append(pair)
        if pair[0] != pair[1]:
            disagreements.append({**item, "detector_refusal": pair[0], "judge_refusal": pair[1]})
    summary = {"runs": sorted(covered_key(run, run_dir.resolve()) for run in runs),
               "judge_model": judge_model(), "sampled": len(items), "judge_errors": errors,
               "overall": agreement([p for pairs in pairs_by_task.values() for p in pairs]),
               "per_task": {task: agreement(pairs) for task, pairs in sorted(pairs_by_task.items())}}
    _write_private(run_dir / SUMMARY, [json.dumps(summary, indent=2) + "\n"])
    _write_private(run_dir / DISAGREEMENTS, (json.dumps(row, ensure_ascii=False) + "\n" for row in disagreements))
    return summary


def _write_private(path: Path, lines) -> None:
    """``lines`` into ``path``, owner-only (0600), also when the file existed with wider permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(lines)


def _line(name: str, figures: dict) -> str:
    if not figures["n"]:
        return f"{name:40s} n=0"
    c = figures["confusion"]
    return (f"{name:40s} n={figures['n']:<4d} accuracy={figures['accuracy']:.3f} kappa={figures['kappa']:.3f}  "
            f"both refusal={c['detector_True_judge_True']} both answer={c['detector_False_judge_False']} "
            f"detector only={c['detector_True_judge_False']} judge only={c['detector_False_judge_True']}")


def cmd_calibrate(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a folder (give a run's --output_path)")
    if args.n < 1:
        raise ValueError(f"--n {args.n}: give at least 1")
    summary = calibrate(run_dir, args.n, args.seed)
    print(f"offline detector vs judge {summary['judge_model']}: {summary['sampled']} replies sampled, "
          f"{summary['judge_errors']} judge errors")
    print(_line("all tasks", summary["overall"]))
    for task, figures in summary["per_task"].items():
        print(_line(task, figures))
    print(f"wrote {run_dir / SUMMARY} and {run_dir / DISAGREEMENTS}")
    return 0


def add_calibrate_command(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="agreement of the offline refusal detector with the LLM judge "
                                                "on a finished run's replies (MMPRIV_JUDGE_* configure the judge)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run's --output_path (run with --log_samples)")
    p.add_argument("--n", type=int, default=200, help="replies to sample, stratified by task (default 200)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.set_defaults(func=cmd_calibrate)
