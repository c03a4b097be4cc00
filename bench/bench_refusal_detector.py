"""Accuracy, hybrid share and speed of the offline refusal detector, measured in this run.

Sets (``tests/data/``):

- ``refusal_frozen_general_v3.jsonl``: 255 general-request replies written before the learned stage
  was retrained on every other set; never used for training or tuning: the figure to report.
- Training data of the learned stage, marked ``[training]`` (fit figures, not generalisation ones;
  the training script prints its cross-validated accuracy): ``refusal_corpus.jsonl`` (its ``test``
  half, the first frozen half, by domain, and its ``dev`` half), ``refusal_previous.jsonl`` (181
  replies by another author), ``refusal_unseen_general.jsonl`` (92 general-request replies),
  ``refusal_frozen_general_v2.jsonl`` (255, the previous detector's frozen set) and
  ``refusal_train_extra.jsonl`` (202 replies written for the v2 set's error families).

Next to ``detect_refusal`` it scores a naive baseline (a reply that starts with an apology or
"I cannot" is a refusal). Hybrid mode (``MMPRIV_REFUSAL_MODE=hybrid``) is measured with a
deterministic fake judge that returns the corpus label: the share of replies sent to the judge and
the agreement of hybrid decisions with full judge mode. Speed is replies per second on one core.

    python bench/bench_refusal_detector.py [--misses]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from mmpriv_tasks import detect_refusal
from mmpriv_tasks.scoring.refusal_modes import needs_judge

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
_NAIVE = re.compile(r"^\W*(?:i'?m sorry|sorry|i apologi[sz]e|i cannot|i can'?t|cannot assist)", re.IGNORECASE)


def naive_refusal(text: str) -> bool:
    return _NAIVE.search(text.replace("\u2019", "'")) is not None


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def scores(rows: list[dict], detector) -> dict:
    said = [detector(r["text"]) for r in rows]
    tp = sum(s and r["refusal"] for s, r in zip(said, rows))
    fp = sum(s and not r["refusal"] for s, r in zip(said, rows))
    fn = sum(not s and r["refusal"] for s, r in zip(said, rows))
    correct = sum(s == r["refusal"] for s, r in zip(said, rows))
    return {"accuracy": correct / len(rows), "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}


def hybrid(rows: list[dict]) -> tuple[float, float]:
    """(share sent to the judge, agreement with full judge mode), the fake judge answering the label."""
    sent = [needs_judge(r["text"], "hybrid") for r in rows]
    decisions = [r["refusal"] if s else detect_refusal(r["text"]) for s, r in zip(sent, rows)]
    return sum(sent) / len(rows), sum(d == r["refusal"] for d, r in zip(decisions, rows)) / len(rows)


def speed(texts: list[str], seconds: float = 2.0) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in texts:
            detect_refusal(text)
        done += len(texts)
    return done / (time.perf_counter() - start)


def report(title: str, rows: list[dict]) -> None:
    print(f"{title}: {len(rows)} replies ({sum(r['refusal'] for r in rows)} refusals)")
    for name, detector in (("detect_refusal", detect_refusal), ("naive prefix", naive_refusal)):
        print(f"  {name:15s} " + "  ".join(f"{k}={v:.3f}" for k, v in scores(rows, detector).items()))
    share, agreement = hybrid(rows)
    print(f"  hybrid mode     sent to judge={share:.3f}  agreement with judge mode={agreement:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the frozen set's misses")
    args = parser.parse_args(argv)
    os.environ.pop("MMPRIV_HYBRID_THRESHOLD", None)
    corpus, previous = load("refusal_corpus.jsonl"), load("refusal_previous.jsonl")
    frozen = load("refusal_frozen_general_v3.jsonl")
    report("FROZEN general requests v3 (never trained on)", frozen)
    earlier = [r for r in corpus if r["split"] == "test"]
    report("[training] corpus test half, privacy requests (forms, voices)",
           [r for r in earlier if r["domain"] != "general"])
    report("[training] corpus test half, general requests", [r for r in earlier if r["domain"] == "general"])
    report("[training] corpus dev half", [r for r in corpus if r["split"] == "dev"])
    report("[training] previous 181 (other author)", previous)
    report("[training] unseen general 92", load("refusal_unseen_general.jsonl"))
    report("[training] general requests v2 (the previous detector's frozen set)",
           load("refusal_frozen_general_v2.jsonl"))
    report("[training] extra general 202 (v2 error families)", load("refusal_train_extra.jsonl"))

    by_kind = defaultdict(list)
    for row in frozen:
        by_kind[row["kind"]].append(detect_refusal(row["text"]) == row["refusal"])
    print("frozen v3 by family: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())))
    if args.misses:
        for row in frozen:
            if detect_refusal(row["text"]) != row["refusal"]:
                print(f"  miss ({row['kind']}, refusal={row['refusal']}): {row['text'][:100]!r}")

    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rate = speed([r["text"] for r in corpus + previous + frozen])
    print(f"speed: {rate:,.0f} replies/s on one core (load average {load_avg:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
