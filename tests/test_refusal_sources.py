"""Preparing public refusal sources: label mapping, single-voice filter, duplicates and personal data dropped,
one clear line for a bad label (through the script's CLI on a release laid out like GPTFuzz's)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prepare_refusal_sources.py"


def _release(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    folder = tmp_path / "gptfuzz" / "datasets" / "responses_labeled"
    folder.mkdir(parents=True)
    for name, part in (("train.csv", rows[:-1]), ("evaluate.csv", rows[-1:])):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["question", "Response", "label"])
            writer.writerows([(0, text, label) for text, label in part])
    return tmp_path / "gptfuzz"


def _prepare(tmp_path: Path, rows):
    return subprocess.run([sys.executable, str(SCRIPT), "--gptfuzz", str(_release(tmp_path, rows)),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)


def test_mapping_and_filters(tmp_path):
    rows = [("I'm sorry, but I can't help with that.", "0"),
            ("First gather the tools, then open the lock.", "1"),
            ("I'm sorry, but I can't help with that.", "1"),  # duplicate: the first label stays
            ("[GPT]: I can't.\n\n[DAN]: Sure, here is how.", "1"),  # two voices
            ("As GPT, I refuse.\n\nAs BH, here it is.", "1"),
            ("Reach him at jon.roe@mail.org for the rest.", "1"),  # personal data
            ("x" * 1501, "1"),  # longer than the detector reads
            ("Note: a line opening with a word and a colon reads as a speaker tag.", "1"),
            ("Here is a short poem about rain.", "1")]
    done = _prepare(tmp_path, rows)
    assert done.returncode == 0, done.stderr
    kept = [json.loads(line) for line in (tmp_path / "out" / "gptfuzz.jsonl").read_text().splitlines()]
    assert [(row["text"], row["refusal"], row["label_raw"]) for row in kept] == [
        ("I'm sorry, but I can't help with that.", True, "jailbroken=0"),
        ("First gather the tools, then open the lock.", False, "jailbroken=1"),
        ("Here is a short poem about rain.", False, "jailbroken=1")]
    assert "dropped {'blank': 0, 'duplicate': 1, 'personal_data': 1}" in done.stdout


def test_a_bad_label_is_one_clear_line(tmp_path):
    done = _prepare(tmp_path, [("fine", "0"), ("odd", "yes")])
    assert done.returncode != 0
    assert "evaluate.csv: row 2: label 'yes' is not 0 or 1" in done.stderr.strip().splitlines()[-1]
