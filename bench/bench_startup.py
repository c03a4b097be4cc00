"""Fixed cost of a run: `mmpriv run --model refuse-all --tasks mmpriv_disclosure_direct --limit 1`.

Runs the command ``--repeat`` times (default 3) and prints each wall time, the median and the
machine's 1-minute load average before the first run (the figure is only meaningful on a quiet machine).

    python bench/bench_startup.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMAND = ["run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct", "--limit", "1"]


def wall_seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("mmpriv")), *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    wall_seconds(COMMAND)  # warm the page cache and the Arrow table cache once
    times = [wall_seconds(COMMAND) for _ in range(args.repeat)]
    print(json.dumps({"command": "mmpriv " + " ".join(COMMAND), "seconds": [round(t, 2) for t in times],
                      "median_s": round(statistics.median(times), 2), "goal_s": 3.0, "load_avg_1min": load,
                      "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
