"""Wall time of the README's main job (Quick start command 1, after install):

    mmpriv run --model ocr-extractor --tasks mmprivacy --output_path OUT --log_samples && mmpriv report OUT

Prints the run's and the report's wall times, the OCR worker count and the 1-minute load average
before the start (the figure is only meaningful on a quiet machine).

    python bench/bench_main_job.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mmpriv_tasks.ocr import usable_cores


def timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("mmpriv")), *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        run = timed("run", "--model", "ocr-extractor", "--tasks", "mmprivacy", "--output_path", out, "--log_samples")
        report = timed("report", out)
    print(json.dumps({"run_s": round(run, 1), "report_s": round(report, 1), "total_s": round(run + report, 1),
                      "goal_s": 90, "ocr_workers": usable_cores(), "load_avg_1min": load}))


if __name__ == "__main__":
    main()
