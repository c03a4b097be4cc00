"""What evaluating in slices costs an API run: `mmpriv run --model mmpriv-api` in slices vs one pass.

``mmpriv run`` calls lm-eval's ``evaluate`` once per slice of docs (``MMPRIV_SLICE_REQUESTS``, default
2048 docs over all tasks): memory stays flat, but at the end of each slice the requests in flight drain
before the next slice's are built. This bench runs one HearSay task over ``--clips`` synthetic
one-second clips against a local server answering after ``--latency`` seconds (its own process, from
``bench_api_concurrency.py``) with ``num_concurrent`` requests in flight, three times per setting (the
median kept): sliced at the default and in one pass (``MMPRIV_SLICE_REQUESTS`` above the request
count), and prints both wall times, the ideal request time (``clips / concurrency * latency``) and the
ratio sliced / one pass.

    python bench/bench_slices.py [--clips 4000] [--concurrency 64] [--latency 0.1]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api_concurrency import _free_port, _wait_for  # noqa: E402
from bench_memory import _mmpriv, clip_dir  # noqa: E402


def run_once(data: Path, base_url: str, concurrency: int, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([_mmpriv(), "run", "--model", "mmpriv-api", "--model_args",
                    f"base_url={base_url},model=bench,num_concurrent={concurrency},cache=false",
                    "--tasks", "hearsay_gender_plain", "--metadata", json.dumps({"data_dir": str(data)})],
                   check=True, capture_output=True, env={**os.environ, **env})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mmpriv-bench-memory")
    args = parser.parse_args()
    os.environ.setdefault("MMPRIV_CACHE_DIR", str(args.work / "cache"))
    data = clip_dir(args.work, args.clips)
    port = _free_port()
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bench_api_concurrency.py")),
                               "--serve", str(port), "--latency", str(args.latency)])
    try:
        _wait_for(port)
        base_url = f"http://127.0.0.1:{port}/v1"
        settings = {"sliced": {}, "one_pass": {"MMPRIV_SLICE_REQUESTS": str(10 * args.clips)}}
        run_once(data, base_url, args.concurrency, {})  # warm-up: page cache, Arrow copy
        seconds = {name: statistics.median(run_once(data, base_url, args.concurrency, env) for _ in range(3))
                   for name, env in settings.items()}
    finally:
        server.kill()
    print(json.dumps({"clips": args.clips, "concurrency": args.concurrency, "latency_s": args.latency,
                      "ideal_request_s": round(args.clips / args.concurrency * args.latency, 2),
                      **{f"{name}_s": round(value, 2) for name, value in seconds.items()},
                      "sliced_x_one_pass": round(seconds["sliced"] / seconds["one_pass"], 3),
                      "load_avg_1min": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
