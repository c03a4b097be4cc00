"""bench/real_server_compat.py: a server that dies mid-run stops the steps (a fake server process, fast),
and the `real_server` lane: the real llama-cpp-python server with SmolLM2-135M passes all three steps
(`pytest -m real_server`; the first run builds the server, see the README)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli

SCRIPT = str(REPO / "bench" / "real_server_compat.py")
FAKE = str(REPO / "tests" / "fake_openai_server.py")


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
    if "real_server" not in (request.config.option.markexpr or ""):
        pytest.skip("real-server lane (builds llama-cpp-python on first use): run with -m real_server")
    start = time.monotonic()
    proc = run_cli(sys.executable, SCRIPT, cwd=tmp_path, timeout=3500)
    print(proc.stdout, f"\n(real_server_compat.py took {time.monotonic() - start:.0f} s)")
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "\n3/3 steps worked" in proc.stdout
