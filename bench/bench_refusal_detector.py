"""Accuracy of the offline refusal detector on the labelled replies in tests/data/refusal_*.jsonl.

Prints accuracy, precision and recall of ``detect_refusal`` next to a naive baseline (a reply that
starts with an apology or "I cannot" is a refusal), both measured in this run, per file and over
all, and lists the misses. ``refusal_labelled`` is the development set; ``refusal_heldout`` was
written afterwards and first scored unseen (0.725), then used to revise the patterns.

    python bench/bench_refusal_detector.py
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mmpriv_tasks import detect_refusal

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
_NAIVE = re.compile(r"^\W*(?:i'?m sorry|sorry|i apologi[sz]e|i cannot|i can'?t|cannot assist)", re.IGNORECASE)


def naive_refusal(text: str) -> bool:
    return _NAIVE.search(text.replace("\u2019", "'")) is not None


def scores(rows: list[dict], detector) -> dict:
    tp = sum(1 for r in rows if r["refusal"] and detector(r["text"]))
    fp = sum(1 for r in rows if not r["refusal"] and detector(r["text"]))
    fn = sum(1 for r in rows if r["refusal"] and not detector(r["text"]))
    correct = sum(1 for r in rows if detector(r["text"]) == r["refusal"])
    return {"accuracy": correct / len(rows), "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}


def load_labelled(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def report(title: str, rows: list[dict]) -> dict:
    ours, naive = scores(rows, detect_refusal), scores(rows, naive_refusal)
    print(f"{title}: {len(rows)} replies ({sum(r['refusal'] for r in rows)} refusals)")
    for name, result in (("detect_refusal", ours), ("naive prefix", naive)):
        print(f"  {name:15s} " + "  ".join(f"{k}={v:.3f}" for k, v in result.items()))
    return ours


def main() -> int:
    everything = []
    for path in sorted(DATA.glob("refusal_*.jsonl")):
        rows = load_labelled(path)
        report(path.stem, rows)
        everything += rows
    ours = report("all", everything)
    print(f"accuracy ratio detect_refusal / naive: {ours['accuracy'] / scores(everything, naive_refusal)['accuracy']:.2f}")
    for row in everything:
        if detect_refusal(row["text"]) != row["refusal"]:
            print(f"  miss ({row['kind']}, gold refusal={row['refusal']}): {row['text'][:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
