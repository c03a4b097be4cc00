"""A running `mmpriv run --model mmpriv-api` killed with SIGKILL resumes from its response cache:
the re-run sends only what was not answered before the kill and gives the results of a run that
was never interrupted."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from fake_openai_server import FakeOpenAIServer

from conftest import venv_bin

TASK = "mmpriv_disclosure_direct"
LIMIT = 10


def _command(base_url: str, cache_dir, output) -> list[str]:
    args = f"base_url={base_url},model=fake-vlm,num_concurrent=1,timeout=10,backoff_base=0.01,cache_dir={cache_dir}"
    return [venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args", args, "--tasks", TASK,
            "--limit", str(LIMIT), "--output_path", str(output), "--log_samples"]


def _outputs(output) -> tuple[dict, list]:
    """(metrics, replies in doc order) of a finished run's output folder."""
    (results_file,) = output.rglob("results_*.json")
    (samples_file,) = output.rglob(f"samples_{TASK}_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    replies = [s["filtered_resps"] for s in sorted(samples, key=lambda s: s["doc_id"])]
    return json.loads(results_file.read_text())["results"][TASK], replies


@pytest.mark.slow
def test_sigkilled_run_resumes_from_the_cache_with_identical_results(tmp_path):
    cache = tmp_path / "cache"
    with FakeOpenAIServer(latency=0.4) as server:
        proc = subprocess.Popen(_command(server.base_url, cache, tmp_path / "killed"), cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while server.count < 4 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed"
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        sent_before_kill = server.count
        assert 4 <= sent_before_kill < LIMIT
        assert not list((tmp_path / "killed").rglob("results_*.json"))  # it really died mid-run

        resumed = subprocess.run(_command(server.base_url, cache, tmp_path / "resumed"), cwd=tmp_path,
                                 capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        resent = server.count - sent_before_kill
        # answered before the kill = sent minus at most the one in flight (num_concurrent=1): not sent again
        assert LIMIT - sent_before_kill <= resent <= LIMIT - sent_before_kill + 1
        assert len({json.dumps(b, sort_keys=True) for b in server.bodies()}) == LIMIT

        fresh = subprocess.run(_command(server.base_url, tmp_path / "fresh-cache", tmp_path / "clean"),
                               cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert fresh.returncode == 0, fresh.stderr[-2000:]
    resumed_metrics, resumed_replies = _outputs(tmp_path / "resumed")
    clean_metrics, clean_replies = _outputs(tmp_path / "clean")
    assert len(resumed_replies) == LIMIT and resumed_replies == clean_replies
    assert resumed_metrics == clean_metrics and resumed_metrics["error_rate,none"] == 0
