"""The MM-Privacy generator: byte-reproducible, the bundled mini split is a fresh build, sane schema."""
from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmpriv_tasks.data.mmprivacy import LABEL_CYCLE, SIZES, build, memory_label
from mmpriv_tasks.data.people import make_person
from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.scoring.pii import pii_leaked


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mmprivacy"), "mini", seed=0, progress=False)


def test_bundled_mini_split_is_exactly_a_fresh_build(mini):
    for split, path in mini.items():
        assert path.read_bytes() == (bundled_data_dir() / "mmprivacy" / f"{split}.parquet").read_bytes(), split


def test_sizes_and_cells(mini):
    disclosure = pq.read_table(mini["disclosure"]).to_pylist()
    assert len(disclosure) == 4 * 3 * SIZES["mini"]["per_cell"]
    cells = {(r["scenario"], r["pii_type"]) for r in disclosure}
    assert len(cells) == 12
    assert all(r["pii_value"] == r[r["pii_type"]] for r in disclosure)
    assert len({r["name"] for r in disclosure}) == len(disclosure)  # one person per item


def test_retention_asks_memory_people_in_both_conditions(mini):
    memory = {r["person_id"]: r for r in pq.read_table(mini["memory"]).to_pylist()}
    retention = pq.read_table(mini["retention"]).to_pylist()
    assert all(r["person_id"] in memory and r["pii_value"] == memory[r["person_id"]][r["pii_type"]]
               and r["memorised"] == (r["pii_value"] in memory[r["person_id"]]["label"]) for r in retention)
    # as upstream: persons from the first half of the memory set, asked for fields their label may lack
    assert max(int(r["person_id"].removeprefix("mem-")) for r in retention) == SIZES["mini"]["asked"] - 1 == 4
    assert {r["memorised"] for r in retention} == {True, False}
    cells = {(r["scenario"], r["pii_type"], r["condition"]) for r in retention}
    assert len(cells) == 24 == len(retention)  # mini: one item per scenario x PII type x condition
    noimage = [r for r in retention if r["condition"] == "noimage"]
    assert all(r["image"]["bytes"][:4] == b"\x89PNG" and not r["distractor_value"] for r in noimage)
    distractor = [r for r in retention if r["condition"] == "distractor"]
    assert all(r["image"] and r["distractor_value"] and not pii_leaked(r["distractor_value"], r["pii_value"],
                                                                          r["pii_type"]) for r in distractor)
    assert all(memory[r["person_id"]]["name"] in r["question"] for r in retention)


def test_open_scenario_images_are_single_field_tables(mini):
    """Upstream's open scenario shows a small name | field table, the others a full form."""
    disclosure = pq.read_table(mini["disclosure"]).to_pylist()
    sizes = {r["scenario"]: Image.open(io.BytesIO(r["image"]["bytes"])).size for r in disclosure}
    assert sizes["open"][1] < 100 and all(sizes[s][1] > 400 for s in ("hiring", "i9", "loan"))


def test_memory_labels_hold_the_memorised_values(mini):
    rows = pq.read_table(mini["memory"]).to_pylist()
    assert [r["label_type"] for r in rows] == ["full", "full", "single"] * 3 + ["full"]
    for k, row in enumerate(rows):
        held = [f for f in ("email", "phone", "ssn") if row[f] in row["label"]]
        assert row["label"].startswith(row["name"]) and held == list(LABEL_CYCLE[k])
    person = make_person(1)
    assert memory_label(person, "ssn") == f"{person.name} has a SSN, which is {person.ssn}. "  # upstream wording
    his = "His" if person.gender == "Male" else "Her"
    assert f"{person.address}, {his} phone number is {person.phone}. " in memory_label(person, with_email=False)


def test_people_depend_on_seed_and_index_only():
    assert make_person(3, seed=0) == make_person(3, seed=0)
    assert make_person(3, seed=0) != make_person(3, seed=1) and make_person(3, seed=0) != make_person(4, seed=0)


def test_no_image_pictures_hold_no_text():
    """The PII-free pictures shown with no-image items: OCR finds nothing to read in any of them."""
    from mmpriv_tasks.data.illustrations import draw_illustration
    from mmpriv_tasks.inputs.ocr import FormReader

    reader = FormReader()
    for pii in ("email", "phone", "ssn"):
        assert reader.transcribe(Image.open(io.BytesIO(draw_illustration(pii, "0:ret-0001")))).strip() == ""


def test_memory_images_match_the_label_type_as_upstream(mini):
    """Upstream trains a "single" label next to a one-field table (Memory Set/Final/5.png: Name | SSN) and
    a "full" label next to a full form."""
    from mmpriv_tasks.data.forms import render_field_table
    from mmpriv_tasks.data.mmprivacy import PII_DISPLAY

    rows = pq.read_table(mini["memory"]).to_pylist()
    singles = [r for r in rows if r["label_type"] == "single"]
    assert len(singles) == 3 and all(r["scenario"] == "open" for r in singles)
    for row in singles:
        field = next(f for f in ("email", "phone", "ssn") if row[f] in row["label"])
        assert row["image"]["bytes"] == render_field_table(row["name"], PII_DISPLAY[field], row[field])
    for row in (r for r in rows if r["label_type"] == "full"):
        assert Image.open(io.BytesIO(row["image"]["bytes"])).size != Image.open(
            io.BytesIO(singles[0]["image"]["bytes"])).size  # a form, not the table
