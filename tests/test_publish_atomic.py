"""Publishing never leaves a truncated or partial file: too little free space stops it before any
write, and a write that fails half-way (a full disk) leaves no file and ends the run with one line."""
from __future__ import annotations

import errno
import json
import re
import sys
from collections import namedtuple

import pytest

from mmpriv_tasks import outputs
from mmpriv_tasks.errors import InputError

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer


def _staging(tmp_path):
    staging = tmp_path / "staging" / "model"
    staging.mkdir(parents=True)
    (staging / "results_2026.json").write_text(json.dumps({"results": {}, "config": {}}))
    doc = {"doc": {"name": "Sarah Chang", "ssn": "367-75-3579"}, "resps": [["367-75-3579"]]}
    (staging / "samples_t_2026.jsonl").write_text(json.dumps(doc) + "\n")
    return staging.parent


def test_too_little_free_space_writes_nothing(tmp_path, monkeypatch):
    staging = _staging(tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 100, 100))
    with pytest.raises(InputError, match=r"out: not enough free space to publish the run \(100 bytes free"):
        outputs.publish(staging, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_write_failing_half_way_leaves_no_file(tmp_path, monkeypatch):
    staging = _staging(tmp_path)

    def full_disk(source, out, masker):
        out.write('{"doc": {"name": "[NAME]"')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs, "_publish_samples", full_disk)
    with pytest.raises(InputError, match=r"samples_t_2026.jsonl: cannot write the run's outputs \(No space left on "
                                          r"device\); nothing was published"):
        outputs.publish(staging, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_samples_are_renamed_before_the_results(tmp_path, monkeypatch):
    staging = _staging(tmp_path)
    order = []
    real_replace = outputs.os.replace
    monkeypatch.setattr(outputs.os, "replace", lambda a, b: (order.append(b.name), real_replace(a, b)))
    written = outputs.publish(staging, tmp_path / "out")
    assert order == ["samples_t_2026.jsonl", "results_2026.json"] == [p.name for p in written]
    assert "367-75-3579" not in (tmp_path / "out" / "model" / "samples_t_2026.jsonl").read_text()


# `mmpriv` (its console script) in a process whose files cannot grow past LIMIT bytes from the first
# file opened under the output folder on: the kernel refuses the write (EFBIG), as on a full disk.
FULL_DISK = """
import resource, runpy, signal, sys
script, out, limit, *argv = sys.argv[1:]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process

def limit_writes(event, args):
    if event == "open" and str(args[0]).startswith(out):
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

sys.addaudithook(limit_writes)
sys.argv = ["mmpriv", *argv]
runpy.run_path(script, run_name="__main__")
"""


def test_a_disk_filling_up_while_publishing_leaves_no_file_and_one_line(tmp_path):
    """The results JSON is the file that no longer fits (the sample log does): the run ends with one
    line and exit code 2, and neither file, nor any partial one, nor the staging folder is left."""
    args = ["run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct", "--limit", "1"]
    fits = run_cli(venv_bin("mmpriv"), *args, "--output_path", str(tmp_path / "fits"), cwd=tmp_path)
    assert fits.returncode == 0, fits.stderr[-2000:]
    samples, results = (next((tmp_path / "fits").rglob(pattern)).stat().st_size
                        for pattern in ("samples_*.jsonl", "results_*.json"))
    assert samples < results
    limit = (samples + results) // 2
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "out"
    done = run_cli(sys.executable, "-c", FULL_DISK, venv_bin("mmpriv"), str(out), str(limit), *args,
                   "--output_path", str(out), cwd=tmp_path, env={"TMPDIR": str(tmp_path / "tmp")})
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("mmpriv:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert re.fullmatch(rf"mmpriv: {re.escape(str(out))}/refuse-all/results_[^/]+\.json: cannot write the run's "
                        r"outputs \(File too large\); nothing was published: free some space or choose another "
                        r"--output_path", lines[0]), lines[0]
    assert [p for p in out.rglob("*") if p.is_file()] == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_too_little_free_space_at_publishing_keeps_the_replies_for_the_next_run(tmp_path):
    """MMPRIV_MIN_FREE_SPACE above what the disk has: the run generates, then stops before publishing
    with one line and exit code 2, leaving no file and no staging folder; run again with the space
    there, every reply comes from the response cache (no request) and the outputs are written."""
    out, staging_parent = tmp_path / "out", tmp_path / "tmp"
    staging_parent.mkdir()
    with FakeOpenAIServer() as server:
        args = [venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                f"base_url={server.base_url},model=fake,cache_dir={tmp_path / 'replies'}",
                "--tasks", "mmpriv_disclosure_direct", "--limit", "3", "--output_path", str(out)]
        full = run_cli(*args, cwd=tmp_path, env={"MMPRIV_MIN_FREE_SPACE": "1024T", "TMPDIR": str(staging_parent)})
        assert full.returncode == 2, full.stderr[-2000:]
        assert server.count == 3
        lines = [line for line in full.stderr.splitlines() if line.startswith("mmpriv:")]
        assert len(lines) == 1 and "Traceback" not in full.stderr, full.stderr[-2000:]
        assert re.fullmatch(rf"mmpriv: {re.escape(str(out))}: not enough free space to publish the run \([\d,]+ bytes "
                            r"free, about [\d,]+ needed plus the 1,125,899,906,842,624 that MMPRIV_MIN_FREE_SPACE "
                            r"keeps free\); nothing was written: free some space or choose another --output_path, "
                            r"then run again \(replies in a model's response cache are not requested again\)",
                            lines[0]), lines[0]
        assert not out.exists() and list(staging_parent.iterdir()) == []
        again = run_cli(*args, cwd=tmp_path, env={"TMPDIR": str(staging_parent)})
        assert again.returncode == 0, again.stderr[-2000:]
        assert server.count == 3  # nothing sent twice
    assert sorted(p.name.split("_")[0] for p in out.rglob("*") if p.is_file()) == ["results", "samples"]


@pytest.mark.parametrize("value, size", [("", 0), ("4096", 4096), ("500M", 500 * 2**20), ("2g", 2 * 2**30),
                                         ("2 GiB", 2 * 2**30), ("1TB", 2**40)])
def test_min_free_space_sizes(monkeypatch, value, size):
    monkeypatch.setenv("MMPRIV_MIN_FREE_SPACE", value)
    assert outputs.min_free_space() == size


def test_a_bad_min_free_space_stops_the_run_before_it_starts(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct",
                   "--limit", "1", "--output_path", str(tmp_path / "out"), cwd=tmp_path,
                   env={"MMPRIV_MIN_FREE_SPACE": "lots"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == ("mmpriv: MMPRIV_MIN_FREE_SPACE='lots': expected a number of "
                                                    "bytes or a size such as 500M or 2G")
    assert not (tmp_path / "out").exists()
