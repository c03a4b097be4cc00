"""Wall time of the README's main job (Quick start command 1, after install), cold and re-run:

    mmpriv run --model ocr-extractor --tasks mmprivacy --output_path OUT --log_samples && mmpriv report OUT

The first run starts with an empty OCR transcript cache (``$MMPRIV_OCR_CACHE_DIR`` in a temporary
folder), the second re-runs the same command on the filled cache (no OCR). Both are set against the
floor measured in the same run: the same command with ``refuse-all`` (everything but OCR). Prints the
wall times, their ratios to the floor, the report's time, whether both runs gave the same metrics
(and a digest of them, to compare across code versions), the OCR worker count and the 1-minute load
average before the start (the figures are only meaningful on a quiet machine).

    python bench/bench_main_job.py
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mmpriv_tasks.inputs.ocr import OCR_CACHE_ENV, usable_cores


def timed(*args: str, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("mmpriv")), *args], check=True, capture_output=True,
                   env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def metrics(out: Path) -> dict:
    return json.loads(next(out.rglob("results_*.json")).read_text())["results"]


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        env = {OCR_CACHE_ENV: str(work / "ocr-cache")}
        runs = {}
        for name, model in (("first", "ocr-extractor"), ("second", "ocr-extractor"), ("floor", "refuse-all")):
            runs[name] = timed("run", "--model", model, "--tasks", "mmprivacy", "--output_path", str(work / name),
                               "--log_samples", env=env)
        report = timed("report", str(work / "second"))
        first, second = metrics(work / "first"), metrics(work / "second")
    digest = hashlib.sha256(json.dumps(first, sort_keys=True).encode()).hexdigest()[:16]
    print(json.dumps({"first_run_s": round(runs["first"], 1), "second_run_s": round(runs["second"], 1),
                      "refuse_all_floor_s": round(runs["floor"], 1),
                      "first_x_floor": round(runs["first"] / runs["floor"], 2),
                      "second_x_floor": round(runs["second"] / runs["floor"], 2), "report_s": round(report, 1),
                      "same_metrics": first == second, "metrics_digest": digest, "goal_s": {"first": 45, "second": 15},
                      "ocr_workers": usable_cores(), "load_avg_1min": load}))


if __name__ == "__main__":
    main()
