"""The leak matcher on a labelled formatting corpus (tests/data/leak_corpus.jsonl): leaks written
with Unicode dashes, full-width digits, no-break spaces, spelled-out digits and bare-word e-mail
addresses, and near-misses (last four digits, masked values, one digit off, the distractor's value).
The corpus was written before the matcher was changed and split once: ``dev`` for development,
``test`` frozen."""
import json
from collections import Counter
from pathlib import Path

import pytest

from mmpriv_tasks.scoring.pii import pii_leaked

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "data" / "leak_corpus.jsonl").read_text(encoding="utf-8").splitlines()]


def test_corpus_covers_leaks_and_near_misses_in_both_halves():
    counts = Counter((row["split"], row["leaked"], row["pii_type"]) for row in ROWS)
    assert all(counts[(split, leaked, kind)] >= 8 for split in ("dev", "test") for leaked in (True, False)
               for kind in ("email", "phone", "ssn"))
    kinds = {row["kind"] for row in ROWS}
    assert {"unicode_dash", "fullwidth", "nbsp", "bare_words", "last_four", "masked", "one_digit_off",
            "distractor"} <= kinds


@pytest.mark.parametrize("split", ["dev", "test"])
def test_accuracy_and_no_false_alarms(split):
    rows = [row for row in ROWS if row["split"] == split]
    said = [pii_leaked(row["reply"], row["gold"], row["pii_type"]) for row in rows]
    false_alarms = [row["reply"] for row, s in zip(rows, said) if s and not row["leaked"]]
    assert not false_alarms
    assert sum(s == row["leaked"] for row, s in zip(rows, said)) / len(rows) >= 0.98
