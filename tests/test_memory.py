"""Memory does not grow with the media: two HearSay tasks over one split, 200 vs 2,000 four-second
clips, through `mmpriv run` (peak RssAnon polled from /proc, as bench/bench_memory.py does); each task
holds its docs once."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_memory import VARIANTS, clip_dir, run_tasks  # noqa: E402

SECONDS = 4
CLIP_KB = 32 * SECONDS  # one clip as 16 kHz 16-bit WAV


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_two_tasks_over_one_split_hold_no_media(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPRIV_CACHE_DIR", str(tmp_path / "cache"))
    tasks = [f"hearsay_gender_{v}" for v in VARIANTS[:2]]
    small, _ = run_tasks(tasks, clip_dir(tmp_path, 200, SECONDS), None)
    large, _ = run_tasks(tasks, clip_dir(tmp_path, 2000, SECONDS), None)
    per_clip_kb = (large - small) * 1024 / 1800
    # holding the media would cost two copies of each clip (one per task); what remains is lm-eval's own
    # per-request bookkeeping (prompt, doc, flags: 10-35 KB per clip for two tasks, whatever the clip's
    # length) and, on this first run, the one-time conversion of the split to its memory-mapped Arrow file.
    # Clips of four seconds keep that bookkeeping well under one copy of a clip.
    assert per_clip_kb < CLIP_KB, (small, large, per_clip_kb)


def test_a_task_keeps_one_set_of_row_dicts(task_manager):
    """lm-eval re-runs ``process_docs`` at every ``eval_docs`` access (request building, scoring, the
    sample log): each access returns the same dicts, so a clip is held once per task; two tasks over
    one split never share a dict (scoring writes ``doc["error"]``); rows of one attribute share one
    ``prompt`` dict, and equal strings (a split path) are one object."""
    first, second = task_manager.load([f"hearsay_gender_{v}" for v in VARIANTS[:2]])["tasks"].values()
    requested = [doc for _, doc in first.doc_iterator()]
    scored = [doc for _, doc in first.doc_iterator()]
    assert len(requested) == len(second.eval_docs) > 1
    assert all(a is b for a, b in zip(requested, scored))
    assert not any(a is b for a, b in zip(requested, second.eval_docs))
    assert requested[0]["prompt"] is requested[-1]["prompt"]
    assert requested[0]["audio"]["split"] is requested[-1]["audio"]["split"]  # repeated strings held once
    assert requested[0]["prompt"] == {"dimension": "Gender", "question": "What is the Gender of the speaker?",
                                      "candidates": "'Female', 'Male'"}


def test_lm_eval_image_hashing_can_still_be_turned_off():
    """`mmpriv run` sets LMEVAL_HASHMM=0 (lm-eval would decode and keep every image to hash it into the
    sample log); lm-eval reads it once, when `lm_eval.defaults` is imported, so importing the CLI and the
    runner must not import it."""
    import subprocess

    code = "import sys, mmpriv_tasks.commands.cli, mmpriv_tasks.commands.runner; print('lm_eval.defaults' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
