"""Throughput of the ``mmpriv-api`` client with N requests in flight vs 1, in one run.

Starts the test suite's local chat-completions server (tests/fake_openai_server.py) with an
artificial per-request latency (default 100 ms) and sends image requests through the real
``OpenAICompatLM.generate_until`` path (payload building, PNG data URLs, HTTP, no cache).

    python bench/bench_api_concurrency.py [--concurrency 16] [--requests 64] [--latency 0.1]
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai_server import FakeOpenAIServer  # noqa: E402


def _requests(count: int):
    from lm_eval.api.instance import Instance
    from PIL import Image

    requests = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (index % 256, 40, 90)).save(buffer, format="PNG")
        args = (f"What is written in form {index}?", {"until": [], "do_sample": False, "max_gen_toks": 32},
                {"visual": [{"bytes": buffer.getvalue(), "path": None}]})
        requests.append(Instance(request_type="generate_until", doc={}, arguments=args, idx=0,
                                 metadata=("bench", index, 1)))
    return requests


def measure(base_url: str, in_flight: int, count: int) -> float:
    """Requests per second for ``count`` requests with ``in_flight`` concurrent."""
    from mmpriv_tasks.models.openai_compat import OpenAICompatLM

    model = OpenAICompatLM(base_url=base_url, model="bench", num_concurrent=in_flight, cache=False, timeout=30)
    requests = _requests(count)
    start = time.perf_counter()
    replies = model.generate_until(requests, disable_tqdm=True)
    elapsed = time.perf_counter() - start
    assert len(replies) == count and not any(r.startswith("<<mmpriv-error>>") for r in replies)
    return count / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight for the parallel run")
    parser.add_argument("--requests", type=int, default=64, help="requests for the parallel run")
    parser.add_argument("--serial-requests", type=int, default=16, help="requests for the 1-in-flight run")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    args = parser.parse_args(argv)
    with FakeOpenAIServer(latency=args.latency) as server:
        measure(server.base_url, 2, 4)  # warm-up: imports, first connection
        serial = measure(server.base_url, 1, args.serial_requests)
        parallel = measure(server.base_url, args.concurrency, args.requests)
    print(f"server latency {args.latency * 1000:.0f} ms per request")
    print(f"1 in flight : {serial:7.1f} requests/s ({args.serial_requests} requests)")
    print(f"{args.concurrency} in flight: {parallel:7.1f} requests/s ({args.requests} requests)")
    print(f"ratio       : {parallel / serial:7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
