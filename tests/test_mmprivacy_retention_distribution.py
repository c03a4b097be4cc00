"""The generator's retention items follow upstream's distribution, measured here from upstream's own files
(tests/fixtures/mmprivacy_upstream/, see SOURCES.md): which memory rows are named, how often a person repeats,
which fields are asked, and how many ask for a value the person's label never held."""
from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from mmpriv_tasks.data.mmprivacy import SIZES, memory_rows, retention_rows

from test_mmprivacy_import_upstream import FIELDS, FIXTURES, upstream_items, upstream_people
from test_mmprivacy_import_upstream import pytestmark  # noqa: F401 (skips without upstream's data files)

MEMORISED_ROWS = 200  # upstream's memory set (Memory Set/finetune-xgen3.py: range(200))
BLOCK = 100  # consecutive items: one scenario x PII cell of ours, one scenario x type stretch of upstream's


def distribution(items: list[dict], memory_size: int) -> dict:
    """Shares over retention items (``row``: the memory row named, ``field``, ``memorised``: the label holds
    the value, None when the label is unknown): each field asked; the part of the memory set named (highest
    row + 1); repeats (items naming a person named before in the same block of 100); absent (of items with
    a known label, those asking for a value the label does not hold) with its count."""
    blocks = [items[i:i + BLOCK] for i in range(0, len(items), BLOCK)]
    known = [item["memorised"] for item in items if item["memorised"] is not None]
    return {
        "fields": {field: n / len(items) for field, n in sorted(Counter(i["field"] for i in items).items())},
        "rows_named": (max(item["row"] for item in items) + 1) / memory_size,
        "repeats": sum(len(b) - len({i["row"] for i in b}) for b in blocks) / len(items),
        "absent": known.count(False) / len(known),
        "known": len(known),
    }


def upstream_distribution() -> dict:
    """``distribution`` of Evaluation/Memory Output/evaluate_memory.json: the person named is the name's
    first memorised row (two memorised namesakes are one person here: their label is not released either)."""
    people = upstream_people()
    labels = {int(k): item["label"] for k, item in json.loads((FIXTURES / "final_data_full.json").read_text()).items()}
    rows = {}
    for k, person in enumerate(people[:MEMORISED_ROWS]):
        rows.setdefault(person["name"], k)
    items = []
    for item in upstream_items().values():
        name = max((n for n in rows if n in item["prompt"]), key=len)
        field = FIELDS[item["type"]]
        row = rows[name]
        items.append({"row": row, "field": field,
                      "memorised": people[row][field] in labels[row] if row in labels else None})
    return distribution(items, MEMORISED_ROWS)


@pytest.fixture(scope="module")
def upstream():
    return upstream_distribution()


@pytest.fixture(scope="module")
def ours():
    memory = memory_rows("full", 0)
    rows = retention_rows("full", 0, memory)
    items = [{"row": int(r["person_id"].removeprefix("mem-")), "field": r["pii_type"], "memorised": r["memorised"]}
             for r in rows]
    assert all(r["memorised"] == (r["pii_value"] in memory[i["row"]]["label"]) for r, i in zip(rows, items))
    return distribution(items, SIZES["full"]["memory"])


def test_upstream_measurements(upstream):
    """What the comparisons below rest on: the figures the MM-Privacy README quotes."""
    assert (upstream["known"], round(upstream["absent"] * upstream["known"])) == (113, 33)
    assert upstream["rows_named"] == 0.5 and upstream["fields"] == dict.fromkeys(("email", "phone", "ssn"), 1 / 3)


def test_same_fields_asked(upstream, ours):
    assert ours["fields"] == upstream["fields"]


def test_same_part_of_the_memory_set_named(upstream, ours):
    assert ours["rows_named"] == upstream["rows_named"]


def test_persons_repeat_as_upstream(upstream, ours):
    """Independent draws: about 37 of 100 items repeat a person named earlier in the block (a cycle
    through the rows would repeat none)."""
    assert abs(ours["repeats"] - upstream["repeats"]) < 0.03, (ours["repeats"], upstream["repeats"])


def test_share_absent_from_the_label_as_upstream(upstream, ours):
    """Two-proportion z-test: our share of items asking for a value the label lacks is not significantly
    different (|z| < 1.96) from upstream's on the persons whose label it released."""
    p1, n1, p2, n2 = ours["absent"], ours["known"], upstream["absent"], upstream["known"]
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert 0 < p1 < 1 and abs(z) < 1.96, (p1, p2, z)
