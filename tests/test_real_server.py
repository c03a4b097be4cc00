"""bench/real_server_compat.py: a server that dies mid-run stops the steps (a fake server process, fast),
and the `real_server` lane: the real llama-cpp-python server with SmolLM2-135M passes all three steps
(`pytest -m real_server`; the first run builds the server, see the README)."""
from __future__ import annotations

import hashlib
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli

SCRIPT = str(REPO / "bench" / "real_server_compat.py")
FAKE = str(REPO / "tests" / "fake_openai_server.py")
PORTABLE = ("-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF "
            "-DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF")


def only_in_lane(request) -> None:
    """The real-server tests run only when asked for (`-m real_server`): the first run builds the server."""
    if "real_server" not in (request.config.option.markexpr or ""):
        pytest.skip("real-server lane (builds llama-cpp-python on first use): run with -m real_server")


def test_server_killed_after_first_request_stops_every_step(tmp_path):
    proc = run_cli(sys.executable, SCRIPT, "--limit", "2", "--server-command",
                   f"{sys.executable} {FAKE} --port {{port}} --exit-after 1", cwd=tmp_path, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 4, proc.stdout + proc.stderr[-2000:]
    died = [line for line in lines if line.startswith("SERVER DIED")]
    assert len(died) == 1 and "was killed by signal SIGKILL during text-only task via mmpriv-api" in died[0]
    assert "    | fake server: killing itself on chat request 1" in lines  # the last lines of its log
    assert not [line for line in lines if line.startswith(("ok", "FAILED"))]
    assert "steps worked" not in proc.stdout


@pytest.mark.real_server
@pytest.mark.timeout(3600)
def test_real_llama_cpp_server_passes_every_step(request, tmp_path):
    only_in_lane(request)
    start = time.monotonic()
    proc = run_cli(sys.executable, SCRIPT, cwd=tmp_path, timeout=3500)
    print(proc.stdout, f"\n(real_server_compat.py took {time.monotonic() - start:.0f} s)")
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "\n3/3 steps worked" in proc.stdout


@pytest.mark.real_server
@pytest.mark.timeout(3600)
def test_real_server_killed_after_first_request_stops_every_step(request, tmp_path):
    only_in_lane(request)
    proc = subprocess.Popen([sys.executable, SCRIPT, "--limit", "2"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:  # the build and install lines, then "server: pid N, port P, log PATH"
        lines.append(line)
        if line.startswith("server: pid"):
            break
    else:
        proc.wait()
        if proc.returncode == 3:
            pytest.skip(lines[-1].strip())
        pytest.fail("".join(lines) + proc.stderr.read()[-3000:])
    pid, log = int(line.split()[2].rstrip(",")), Path(line.split("log ", 1)[1].strip())
    deadline = time.monotonic() + 1200
    while "POST /v1/chat/completions" not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    out = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=600) == 4, out + proc.stderr.read()[-3000:]
    assert "was killed by signal SIGKILL during text-only task via mmpriv-api" in out
    assert not [line for line in out.splitlines() if line.startswith(("ok       text", "ok       image",
                                                                      "ok       judge", "FAILED"))]


def test_no_compiler_and_no_cached_build_is_reported_as_unavailable(tmp_path):
    """What the `real_server` lane skips on: exit 3 and one line naming the missing compiler and the cache."""
    proc = run_cli(sys.executable, SCRIPT, "--cache-dir", str(tmp_path / "cache"), env={"PATH": str(tmp_path)},
                   timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "unavailable: no C++ compiler (c++, g++ or clang++) to build llama-cpp-python and no cached build in "
        f"{tmp_path / 'cache'}/llama-cpp-python-0.3.36-cp{sys.version_info[0]}{sys.version_info[1]}-"
        f"{platform.machine()}-portable-{hashlib.sha256(PORTABLE.encode()).hexdigest()[:8]}/wheel"]


@pytest.mark.slow
def test_steps_fail_on_echoed_replies_and_on_judge_requests_that_never_reached_the_model(tmp_path):
    """A server that echoes the prompt and answers every JSON-mode (judge) request with HTTP 400: the text
    step is not the model's text and the judge step has no reply from the model, so both fail (the image
    step, 3 samples rejected with HTTP 500, passes: its hint comes after 3 equal errors)."""
    proc = run_cli(sys.executable, SCRIPT, "--limit", "3", "--server-command",
                   f"{sys.executable} {FAKE} --port {{port}} --reject-media --reject-json-mode", cwd=tmp_path,
                   timeout=900)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    outcomes = [re.match(r"(\S+) +(.+?) \([\d.]+ s\): ", line).groups() for line in lines
                if line.startswith(("ok", "FAILED"))]
    assert outcomes == [("FAILED", "text-only task via mmpriv-api"),
                        ("ok", "image task on a text model: per-sample errors, reported once"),
                        ("FAILED", "judge mode (JSON) on refuse-all replies")]
    assert "not the model's text=3 (the prompt echoed back)" in proc.stdout
    assert ("judge replies from the model: 0 verdicts + 0 not a verdict, requests lost to the connection or HTTP=1"
            in proc.stdout)
    assert "\n1/3 steps worked" in proc.stdout
