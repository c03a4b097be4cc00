"""Fixed cost of a run: a one-sample ``mmpriv-api`` run against a local server, in one process.

    mmpriv run --model mmpriv-api --model_args base_url=<local>,model=bench,cache=false \\
        --tasks mmpriv_disclosure_direct --limit 1

Runs it ``--repeat`` times (default 3, after one warm-up) and prints each wall time and the median,
with a breakdown measured in the same run: a bare interpreter start, importing our CLI, importing
lm-eval's evaluator (which brings datasets and pandas), and the rest (task index, preflight, the
request, scoring, writing nothing). The ratio printed is the median over the imports-only floor
(interpreter + CLI + lm-eval evaluator imports: what any run pays before its first task is read).
Our package's bytecode is compiled first (``compileall``), as an installed package has it: with
``PYTHONDONTWRITEBYTECODE`` set and an editable install, every run would compile our sources again.
Also printed: what stock lm-eval's environment step (torch's ``collect_env`` and the transformers
import, which ``mmpriv run`` no longer does for models that do not use torch) costs on top of those
imports. The 1-minute load average is printed too: the figure is only meaningful on a quiet machine.

    python bench/bench_startup.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai_server import FakeOpenAIServer  # noqa: E402


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "mmpriv_tasks"), quiet=1)
    with FakeOpenAIServer() as server:
        command = [str(Path(sys.executable).with_name("mmpriv")), "run", "--model", "mmpriv-api", "--model_args",
                   f"base_url={server.base_url},model=bench,cache=false", "--tasks", "mmpriv_disclosure_direct",
                   "--limit", "1"]
        wall(command)  # warm the page cache and the Arrow table cache once
        times = [wall(command) for _ in range(args.repeat)]
    bare = statistics.median(wall(python("pass")) for _ in range(3))
    cli = statistics.median(wall(python("import mmpriv_tasks.commands.cli")) for _ in range(3))
    floor = statistics.median(wall(python("import mmpriv_tasks.commands.cli, lm_eval.evaluator")) for _ in range(3))
    stock_env = statistics.median(wall(python(
        "import mmpriv_tasks.commands.cli, lm_eval.evaluator, transformers\n"
        "from torch.utils.collect_env import get_pretty_env_info; get_pretty_env_info()")) for _ in range(3))
    median = statistics.median(times)
    print(json.dumps({"command": "mmpriv run --model mmpriv-api ... --tasks mmpriv_disclosure_direct --limit 1",
                      "seconds": [round(t, 2) for t in times], "median_s": round(median, 2), "goal_s": 2.0,
                      "breakdown_s": {"interpreter": round(bare, 2), "import_cli": round(cli - bare, 2),
                                      "import_lm_eval_evaluator": round(floor - cli, 2),
                                      "rest_of_run": round(median - floor, 2)},
                      "x_imports_floor": round(median / floor, 2),
                      "stock_env_step_s_not_paid": round(stock_env - floor, 2), "load_avg_1min": load, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
