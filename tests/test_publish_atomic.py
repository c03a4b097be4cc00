"""Publishing never leaves a truncated or partial file: too little free space stops it before any
write, and a write that fails half-way (a full disk) leaves the output folder as it was."""
from __future__ import annotations

import errno
import json
from collections import namedtuple

import pytest

from mmpriv_tasks import outputs
from mmpriv_tasks.errors import InputError


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
    with pytest.raises(OSError, match="No space left"):
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
