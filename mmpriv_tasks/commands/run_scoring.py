"""How a finished run was scored, read back from its lm-eval results JSON.

Tasks record ``scoring_mode`` (offline | judge | hybrid), ``judge_model`` and ``judge_prompt`` (the
judge prompt's version) as per-task results (``results[task]["scoring_mode,none"]`` ...; see
``scoring.refusal_modes.scoring_record``). ``mmpriv cite NAME --results RUN`` appends them to each
task's line.
"""
from __future__ import annotations

import json
from pathlib import Path

KEYS = ("scoring_mode", "judge_model", "judge_prompt")


def recorded_scoring(run: str | Path) -> dict[str, dict[str, str]]:
    """``{task: {"scoring_mode": ..., "judge_model": ..., "judge_prompt": ...}}`` from the
    ``results_*.json`` files under ``run`` (a file or a folder; later files win)."""
    path = Path(run)
    files = [path] if path.is_file() else sorted(path.rglob("results_*.json"))
    if not files:
        raise FileNotFoundError(f"{run}: no lm-eval results_*.json found")
    scoring: dict[str, dict[str, str]] = {}
    for file in files:
        for task, metrics in json.loads(file.read_text(encoding="utf-8")).get("results", {}).items():
            record = {key: metrics[f"{key},none"] for key in KEYS if f"{key},none" in metrics}
            if record:
                scoring[task] = record
    return scoring


def cite_suffix(record: dict[str, str] | None) -> str:
    """`` scoring:judge judge:<model> judge_prompt:<version>`` ('' when the run did not record it)."""
    if not record:
        return ""
    parts = [f"scoring:{record.get('scoring_mode') or '?'}"]
    parts += [f"{key}:{record[key]}" for key in ("judge_model", "judge_prompt") if record.get(key)]
    return " " + " ".join(parts)
