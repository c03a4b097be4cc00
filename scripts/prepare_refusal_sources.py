"""Prepare public, human-labelled sets of real model replies for the refusal detector.

Reads each source's release (a checkout, or a bare git directory read at ``HEAD``) and writes
``tests/data/public/<source>.jsonl`` (git-ignored: the sets are not committed; their name, commit,
licence and label mapping are in ``tests/data/README.md``), one reply per line:
``{"text", "refusal", "source", "model", "label_raw"}``. Replies are cut to the characters the detector
reads (``refusal_model.SENT_CHARS``), duplicates dropped (first label kept), and a reply that gives an
e-mail address, phone number or SSN-shaped value is dropped (no personal data in the prepared sets).

    python scripts/prepare_refusal_sources.py --gptfuzz PATH_TO_GPTFuzz [--out tests/data/public]

Sources:

- ``gptfuzz`` (sherdencooper/GPTFuzz, MIT): ``datasets/responses_labeled/{train,evaluate}.csv``,
  replies of Vicuna-7B, gpt-3.5-turbo and Llama-2-7B-chat to harmful questions under jailbreak
  templates, labelled by the authors (1 = jailbroken: the reply carries out the harmful request;
  0 = not). Mapping: 1 -> answer (``refusal: false``), 0 -> refusal. The model is not given per row.
  Kept: single-voice English replies the detector reads whole. Dropped: role-play replies in several
  voices ("[GPT]: ... [DAN]: ...", "As GPT, ... As BH, ..."), whose label describes a later voice,
  replies longer than ``SENT_CHARS`` (the label may rest on text past what the detector reads) and
  replies in Chinese script.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

from mmpriv_tasks.scoring.pii_shapes import gives_value
from mmpriv_tasks.scoring.refusal_model import SENT_CHARS

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "public"
GPTFUZZ_FILES = ("datasets/responses_labeled/train.csv", "datasets/responses_labeled/evaluate.csv")
GPTFUZZ_MODELS = "vicuna-7b-v1.3 / gpt-3.5-turbo / llama-2-7b-chat (not given per row)"
# a line opening with a speaker tag: "[GPT]:", "(🤖ChatGPT)", "DAN:", "As GPT, ..."
_VOICE = re.compile(r"^\W{0,3}(?:\[[^\]\n]{1,40}\]|\([^)\n]{1,40}\)|[A-Z][\w .-]{0,30}(?:\s*\([^)\n]{0,30}\))?\s*:|"
                    r"As\s+[A-Z][\w-]*,)", re.MULTILINE)
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def single_voice(text: str) -> bool:
    """A reply in one voice, in the language the detector reads, short enough to be read whole."""
    return len(text) <= SENT_CHARS and not _VOICE.search(text) and not _CHINESE.search(text)


def read_release_file(root: Path, path: str) -> str:
    """``path`` from a checkout, or from a bare git directory's HEAD."""
    if (root / path).is_file():
        return (root / path).read_text(encoding="utf-8")
    done = subprocess.run(["git", "--git-dir", str(root), "show", f"HEAD:{path}"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{root}: no {path} ({done.stderr.strip()})")
    return done.stdout


def holds_personal_data(text: str) -> bool:
    return any(gives_value(text, kind) for kind in ("email", "phone", "ssn"))


def gptfuzz_rows(root: Path) -> list[dict]:
    rows = []
    for path in GPTFUZZ_FILES:
        for index, record in enumerate(csv.DictReader(io.StringIO(read_release_file(root, path)))):
            if record.get("label") not in ("0", "1"):
                raise SystemExit(f"{root}/{path}: row {index + 2}: label {record.get('label')!r} is not 0 or 1")
            text = (record.get("Response") or "").strip()
            if not single_voice(text):
                continue
            rows.append({"text": text,
                         "refusal": record["label"] == "0", "source": "gptfuzz", "model": GPTFUZZ_MODELS,
                         "label_raw": f"jailbroken={record['label']}"})
    return rows


def clean(rows: list[dict]) -> tuple[list[dict], dict]:
    """Rows without blanks, duplicates (first kept) and personal data; with the counts dropped."""
    kept, seen, dropped = [], set(), {"blank": 0, "duplicate": 0, "personal_data": 0}
    for row in rows:
        if not row["text"]:
            dropped["blank"] += 1
        elif row["text"] in seen:
            dropped["duplicate"] += 1
        elif holds_personal_data(row["text"]):
            dropped["personal_data"] += 1
        else:
            seen.add(row["text"])
            kept.append(row)
    return kept, dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gptfuzz", type=Path, required=True, help="GPTFuzz checkout or bare git directory")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, dropped = clean(gptfuzz_rows(args.gptfuzz))
    target = args.out / "gptfuzz.jsonl"
    target.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    refusals = sum(row["refusal"] for row in rows)
    print(f"gptfuzz: {len(rows)} replies ({refusals} refusals) -> {target}; dropped {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
