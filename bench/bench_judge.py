"""Time the LLM judge adds to a HearSay run, against the ideal for concurrent judging, in one run.

A 400-clip HearSay gender task (distinct synthetic tones, written to a temporary data folder) runs
through lm-eval (``simple_evaluate``, our task folder) with the ``mmpriv-api`` model against a local
chat-completions server (tests/fake_openai_server.py) with 150 ms latency per request, model
``num_concurrent=8``; once scored offline, once with ``MMPRIV_REFUSAL_MODE=judge`` against a second
local server (same latency, judge concurrency 8), after a short warm-up, in the order offline, judge,
judge, offline. The judge's share is the difference of the means; the ideal is clips x latency /
concurrency (400 x 0.15 s / 8 = 7.5 s).

    python bench/bench_judge.py [--clips 400] [--latency 0.15] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai_server import FakeOpenAIServer, user_parts  # noqa: E402


def model_answer(body: dict) -> str:
    """A profiler reply that differs per clip (its audio hash) and names a label."""
    import hashlib

    _, _, audio = user_parts(body)
    digest = hashlib.sha256(json.dumps(audio).encode()).hexdigest()
    return f"Reasoning: timbre {digest[:10]}.\nSelected Label: {'Female' if int(digest, 16) % 2 else 'Male'}"


def judge_answer(body: dict) -> str:
    gold = re.search(r'Ground Truth: "(.*)"', body["messages"][0]["content"]).group(1)
    said = re.search(r"Selected Label: (\w+)", body["messages"][1]["content"])
    return json.dumps({"is_refusal": said is None, "is_correct": bool(said) and said.group(1) == gold,
                       "reason": "bench"})


def write_clips(folder: Path, count: int) -> None:
    """``<folder>/hearsay/gender.parquet`` with ``count`` distinct 0.1 s tones."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mmpriv_tasks.inputs.media import encode_wav
    from mmpriv_tasks.paths import bundled_data_dir

    schema = pq.read_schema(bundled_data_dir() / "hearsay" / "gender.parquet")
    rows = []
    for i in range(count):
        tone = 0.1 * np.sin(2 * np.pi * (100 + i) * np.arange(1600) / 16000).astype(np.float32)
        rows.append({"id": f"bench-{i:04d}", "attribute": "gender", "label": ("Female", "Male")[i % 2],
                     "source": "bench", "speaker": f"tone-{i}", "sentence": "",
                     "audio": {"bytes": encode_wav(tone, 16000), "path": f"bench-{i:04d}.wav"}})
    (folder / "hearsay").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "hearsay" / "gender.parquet")


def run(task_manager, model_url: str, concurrency: int, mode: str, limit: int | None = None) -> tuple[float, dict]:
    """Wall time and metrics of one lm-eval run scored in ``mode``."""
    import lm_eval

    os.environ["MMPRIV_REFUSAL_MODE"] = mode
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model="mmpriv-api", model_args=f"base_url={model_url},model=bench,num_concurrent={concurrency},cache=false",
        tasks=["hearsay_gender_profiler"], task_manager=task_manager, limit=limit)
    return time.perf_counter() - start, out["results"]["hearsay_gender_profiler"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per request, model and judge")
    parser.add_argument("--concurrency", type=int, default=8, help="model and judge requests in flight")
    args = parser.parse_args(argv)

    import logging

    logging.disable(logging.WARNING)
    from lm_eval.tasks import TaskManager

    import mmpriv_tasks  # noqa: F401  (registers mmpriv-api)
    from mmpriv_tasks.paths import task_configs_dir

    with tempfile.TemporaryDirectory() as tmp:
        write_clips(Path(tmp), args.clips)
        os.environ.update({"MMPRIV_DATA_DIR": tmp, "MMPRIV_JUDGE_CACHE_DIR": "none", "MMPRIV_JUDGE_MODEL": "bench",
                           "MMPRIV_JUDGE_CONCURRENCY": str(args.concurrency)})
        task_manager = TaskManager(include_path=str(task_configs_dir()))
        with FakeOpenAIServer(model_answer, latency=args.latency) as model, \
                FakeOpenAIServer(judge_answer, latency=args.latency) as judge:
            os.environ["MMPRIV_JUDGE_BASE_URL"] = judge.base_url
            run(task_manager, model.base_url, args.concurrency, "judge", limit=16)  # warm-up: imports, connections
            before = judge.count
            times: dict[str, list[float]] = {"offline": [], "judge": []}
            for mode in ("offline", "judge", "judge", "offline"):  # ABBA: drift cancels out
                seconds, metrics = run(task_manager, model.base_url, args.concurrency, mode)
                times[mode].append(seconds)
                if mode == "offline":
                    offline_metrics = metrics
                else:
                    judged_metrics = metrics
            judge_requests = (judge.count - before) // 2
    assert judged_metrics["judged_rate,none"] == 1 and judged_metrics["judge_error_rate,none"] == 0
    assert judged_metrics["accuracy,none"] == offline_metrics["accuracy,none"]
    ideal = args.clips * args.latency / args.concurrency
    offline, judged = (sum(times[m]) / len(times[m]) for m in ("offline", "judge"))
    added = judged - offline
    print(f"{args.clips} clips, {args.latency * 1000:.0f} ms per request, model and judge concurrency "
          f"{args.concurrency}; {judge_requests} judge requests")
    print(f"offline-scored run: {offline:.1f} s; judge-scored run: {judged:.1f} s (means of 2 runs each, "
          f"order offline, judge, judge, offline)")
    print(f"time the judge adds: {added:.1f} s = {added / ideal:.2f}x the ideal {ideal:.1f} s "
          f"(target <= 1.35x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
