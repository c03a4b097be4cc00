"""SIGTERM / SIGINT while `mmpriv run` generates or publishes: no raw file anywhere (staging gone),
no partial file in the output folder, nothing `mmpriv report` accepts; `report` refuses a run whose
sample log is short or empty."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from fake_openai_server import FakeOpenAIServer

from conftest import run_cli, venv_bin

TASK = "mmpriv_disclosure_direct"


def _start(tmp_path, base_url: str, limit: int, ignored: tuple[int, ...] = ()) -> subprocess.Popen:
    """`mmpriv run` with SIGINT as a terminal leaves it (pytest run in the background inherits it ignored)
    and the ``ignored`` signals ignored, as ``nohup`` leaves SIGHUP."""
    def dispositions():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for number in ignored:
            signal.signal(number, signal.SIG_IGN)

    (tmp_path / "tmp").mkdir(exist_ok=True)
    args = f"base_url={base_url},model=fake,num_concurrent=2,cache=false"
    return subprocess.Popen([venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args", args, "--tasks",
                             TASK, "--limit", str(limit), "--output_path", str(tmp_path / "out")],
                            env={**os.environ, "TMPDIR": str(tmp_path / "tmp")}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, preexec_fn=dispositions)


def _wait_for(condition, proc, seconds: float = 300) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def _assert_nothing_left(tmp_path, proc) -> None:
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith("mmpriv: interrupted ("), stderr[-12000:]
    assert list((tmp_path / "tmp").iterdir()) == []  # staging (raw sample logs) removed
    out = tmp_path / "out"
    left = sorted(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else []
    assert not [name for name in left if name.startswith(("results_", ".")) or "partial" in name], left
    report = run_cli(venv_bin("mmpriv"), "report", str(out), "--out", str(tmp_path / "report.md"))
    assert report.returncode != 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_signal_during_generation(tmp_path, signum):
    with FakeOpenAIServer(latency=0.5) as server:
        proc = _start(tmp_path, server.base_url, limit=20)
        _wait_for(lambda: server.count >= 3, proc)
        proc.send_signal(signum)
        _assert_nothing_left(tmp_path, proc)


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_signal_during_publishing(tmp_path, signum):
    """Long replies make masking slow enough to hit: the signal lands while a temporary file exists."""
    with FakeOpenAIServer(answer=lambda body: "I cannot. " + "word " * 40_000) as server:
        proc = _start(tmp_path, server.base_url, limit=60)
        out = tmp_path / "out"
        _wait_for(lambda: out.exists() and any("partial" in p.name for p in out.rglob("*")), proc)
        proc.send_signal(signum)
        _assert_nothing_left(tmp_path, proc)


def test_a_hang_up_the_run_was_started_ignoring_lets_it_finish(tmp_path):
    """``nohup mmpriv run ...``: the run outlives its terminal."""
    with FakeOpenAIServer(latency=0.5) as server:
        proc = _start(tmp_path, server.base_url, limit=8, ignored=(signal.SIGHUP,))
        _wait_for(lambda: server.count >= 3, proc)
        proc.send_signal(signal.SIGHUP)
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert len(list((tmp_path / "out").rglob("results_*.json"))) == 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_report_refuses_a_run_with_a_short_sample_log(tmp_path):
    with FakeOpenAIServer() as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", TASK, "--limit", "3",
                       "--output_path", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (samples,) = (tmp_path / "out").rglob("samples_*.jsonl")
    ok = run_cli(venv_bin("mmpriv"), "report", str(tmp_path / "out"), "--out", str(tmp_path / "ok.md"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    lines = samples.read_text().splitlines(keepends=True)
    for cut, logged in ((lines[0] + lines[1][:10], 1), ("", 0)):
        samples.write_text(cut)
        refused = run_cli(venv_bin("mmpriv"), "report", str(tmp_path / "out"), "--out", str(tmp_path / "r.md"))
        assert refused.returncode == 2
        assert refused.stderr.strip().endswith(f"incomplete run (task {TASK}: {logged} of 3 samples logged); "
                                               "run it again")
        assert len(refused.stderr.strip().splitlines()) == 1
