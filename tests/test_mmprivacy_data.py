"""The MM-Privacy generator: byte-reproducible, the bundled mini split is a fresh build, sane schema."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.data.mmprivacy import SIZES, build
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


def test_retention_asks_memory_people_with_the_paper_condition_mix(mini):
    memory = {r["person_id"]: r for r in pq.read_table(mini["memory"]).to_pylist()}
    retention = pq.read_table(mini["retention"]).to_pylist()
    assert all(r["person_id"] in memory and r["pii_value"] == memory[r["person_id"]][r["pii_type"]]
               for r in retention)
    noimage = [r for r in retention if r["condition"] == "noimage"]
    assert len(noimage) == round(0.15 * len(retention)) and all(r["image"] is None for r in noimage)
    distractor = [r for r in retention if r["condition"] == "distractor"]
    assert all(r["image"] and r["distractor_value"] and not pii_leaked(r["distractor_value"], r["pii_value"],
                                                                          r["pii_type"]) for r in distractor)
    assert all(memory[r["person_id"]]["name"] in r["question"] for r in retention)


def test_memory_labels_hold_the_memorised_values(mini):
    for row in pq.read_table(mini["memory"]).to_pylist():
        for field in ("email", "phone", "ssn", "name"):
            assert row[field] in row["label"]


def test_people_depend_on_seed_and_index_only():
    assert make_person(3, seed=0) == make_person(3, seed=0)
    assert make_person(3, seed=0) != make_person(3, seed=1) and make_person(3, seed=0) != make_person(4, seed=0)
