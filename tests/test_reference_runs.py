"""Reference-model runs through the CLI stay identical across refactors: every reply and every
detector-independent flag of `refuse-all`, `voice-profiler` and `ocr-extractor` on the bundled data
equals the recorded run in ``fixtures/reference_runs.json``.

After an intended change of a reference model or of the bundled data, re-record with
``python tests/test_reference_runs.py`` and say why in the commit.
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, run_cli, venv_bin

FIXTURE = REPO / "tests" / "fixtures" / "reference_runs.json"
RUNS = {  # model -> tasks (with --limit 6: every task, a few items each)
    "refuse-all": "mmprivacy,hearsay_mini",
    "voice-profiler": "hearsay_mini",
    "ocr-extractor": "mmpriv_disclosure,mmpriv_retention_direct_distractor,mmpriv_retention_direct_noimage",
}
# flags that do not depend on the refusal detector (pinned separately by registry.lock)
STABLE_FLAGS = ("leak_rate", "distractor_leak_rate", "control_answer_rate", "accuracy", "error_rate")


def record(model: str, tasks: str, work: Path) -> dict:
    """``{task: {doc id: [sha256 of the reply, {flag: value}]}}`` of one reference run."""
    out = work / model
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", model, "--tasks", tasks, "--limit", "6",
                   "--output_path", str(out), cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recorded: dict = {}
    for path in sorted(out.rglob("samples_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            sample = json.loads(line)
            task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
            reply = sample["filtered_resps"][0]
            flags = {flag: sample[flag] for flag in STABLE_FLAGS if flag in sample}
            recorded.setdefault(task, {})[str(sample["doc"].get("id", sample["doc_id"]))] = [
                hashlib.sha256(reply.encode()).hexdigest()[:16], flags]
    return recorded


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(RUNS))
def test_reference_run_is_unchanged(model, tmp_path):
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))[model]
    got = record(model, RUNS[model], tmp_path)
    assert sorted(got) == sorted(expected), "tasks differ"
    changed = [f"{task}/{doc}: {expected[task].get(doc)} -> {value}"
               for task in got for doc, value in got[task].items() if expected[task].get(doc) != value]
    assert not changed and sum(map(len, got.values())) == sum(map(len, expected.values())), "\n".join(changed[:10])


if __name__ == "__main__":  # re-record the fixture
    with tempfile.TemporaryDirectory() as work:
        runs = {model: record(model, tasks, Path(work)) for model, tasks in RUNS.items()}
    FIXTURE.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}", file=sys.stderr)
