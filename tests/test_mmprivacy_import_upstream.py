"""The importer on upstream's own files (fixtures under tests/fixtures/mmprivacy_upstream/, see SOURCES.md):
retention golds come from the person upstream memorises (rows 0-199 of Memory Set/database_full.xlsx)."""
from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tqdm import tqdm

from mmpriv_tasks.data.mmprivacy_import import (AmbiguousNameError, UpstreamLayoutError, _Images, memory_labels,
                                                 memory_rows, memorised_person, retention_rows)

from conftest import png_bytes, run_cli, venv_bin
from test_mmprivacy_import import HEADER, release, write_xlsx  # noqa: F401 (release: a fixture)

FIXTURES = Path(__file__).parent / "fixtures" / "mmprivacy_upstream"
UPSTREAM_DATA = ("database_full_people.json", "evaluate_memory.json.gz", "final_data_full.json")
# Upstream's data files are not committed (fetched data stays out of the repo): SOURCES.md says how to make them.
pytestmark = pytest.mark.skipif(not all((FIXTURES / name).exists() for name in UPSTREAM_DATA),
                                reason="upstream's data files are not in tests/fixtures/mmprivacy_upstream/ "
                                       "(see its SOURCES.md to make them from a checkout of the release)")
FIELDS = {"Email": "email", "Phone Numbers": "phone", "SSN": "ssn"}


def upstream_people() -> list[dict]:
    rows = json.loads((FIXTURES / "database_full_people.json").read_text())["rows"]
    return [{"name": name, "email": email, "phone": phone, "ssn": ssn} for name, email, phone, ssn in rows]


def upstream_items() -> dict:
    return json.loads(gzip.decompress((FIXTURES / "evaluate_memory.json.gz").read_bytes()))


def upstream_labels() -> dict[int, dict]:
    return {int(k): item for k, item in json.loads((FIXTURES / "final_data_full.json").read_text()).items()}


class _NoText:
    """An OCR stand-in: the distractor forms are not under test here."""

    def transcribe(self, image) -> str:
        return ""


def _retention(tmp_path: Path, skip_ambiguous: bool) -> list[dict]:
    items_file, images_dir = tmp_path / "evaluate_memory.json", tmp_path / "Memory"
    images_dir.mkdir(exist_ok=True)
    items_file.write_bytes(gzip.decompress((FIXTURES / "evaluate_memory.json.gz").read_bytes()))
    gray = png_bytes("gray")
    for key in upstream_items():
        (images_dir / f"{key}.png").write_bytes(gray)
    with tqdm(disable=True) as bar:
        return retention_rows(items_file, images_dir, upstream_people(), [], upstream_labels(), _Images(False), bar,
                              _NoText(), "upstream-ret", skip_ambiguous)


def test_upstream_names_held_by_two_memorised_rows_stop_the_import(tmp_path):
    with pytest.raises(AmbiguousNameError, match=r"item \d+: the person named is 2 memorised rows of "
                                                 r"database_full.xlsx \(rows (17, 64|46, 109)\)"):
        _retention(tmp_path, skip_ambiguous=False)


def test_every_upstream_retention_gold_is_the_memorised_persons_value(tmp_path):
    people, items = upstream_people(), upstream_items()
    rows = _retention(tmp_path, skip_ambiguous=True)
    first_rows = {}
    for k, person in enumerate(people):
        first_rows.setdefault(person["name"], []).append(k)
    ambiguous = {name for name, ks in first_rows.items() if sum(k < 200 for k in ks) > 1}
    assert sorted(ambiguous) == ["Erin Brown", "Margaret Smith"]
    expected_keys = [key for key, item in items.items() if not any(name in item["prompt"] for name in ambiguous)]
    assert len(rows) == len(expected_keys) == 1162
    for row, key in zip(rows, expected_keys):
        k = int(row["person_id"].removeprefix("upstream-mem-"))
        memorised = [j for j in first_rows[row["name"]] if j < 200]
        assert memorised == [k] and row["name"] in items[key]["prompt"]
        assert row["pii_value"] == people[k][FIELDS[items[key]["type"]]], key
    # Robert Garcia is rows 92, 261 and 818: only row 92 was memorised (the importer took row 818 before)
    garcia = [(r["pii_type"], r["pii_value"]) for r in rows if r["name"] == "Robert Garcia"]
    assert Counter(garcia) == Counter({("email", "kimberlyweber@example.com"): 6, ("ssn", "692-24-1008"): 5,
                                       ("phone", "636-825-5141x68347"): 3})


def test_memorised_person_ignores_namesakes_after_row_200():
    people = [{"name": f"P{k} Q"} for k in range(200)] + [{"name": "P7 Q"}, {"name": "Late Comer"}]
    assert memorised_person("the SSN of P7 Q. Output it", people, "x") == 7
    assert memorised_person("the SSN of P17 Q. Output it", people, "x") == 17  # longest name, not "P1 Q"
    with pytest.raises(UpstreamLayoutError, match=r"^x: the person named is not among the 200 memorised rows"):
        memorised_person("the SSN of Late Comer.", people, "x")


def test_upstream_memory_labels_are_rows_of_the_same_index(tmp_path):
    root = tmp_path / "root"
    (root / "Memory Set" / "Final").mkdir(parents=True)
    shutil.copy(FIXTURES / "final_data_full.json", root / "Memory Set" / "final_data_full.json")
    for key in json.loads((FIXTURES / "final_data_full.json").read_text()):
        (root / "Memory Set" / "Final" / f"{key}.png").write_bytes(png_bytes("black"))
    people = upstream_people()
    with tqdm(disable=True) as bar:
        rows = memory_rows(root, people, memory_labels(root, people), _Images(False), bar)
    assert [(r["person_id"], r["name"], r["label_type"]) for r in rows][4:6] == [
        ("upstream-mem-0004", "Michael Clark", "full"), ("upstream-mem-0005", "Kevin Henson", "single")]
    assert [r["ssn"] for r in rows] == [p["ssn"] for p in people[:11]]
    labels = json.loads((FIXTURES / "final_data_full.json").read_text())
    labels["3"], labels["250"] = labels["4"], labels["4"]  # 250: never trained (range(200)), so not read
    (root / "Memory Set" / "final_data_full.json").write_text(json.dumps(labels))
    wrong = r"item 3: the label does not start with the name of database_full.xlsx row 5"
    with pytest.raises(UpstreamLayoutError, match=wrong):
        memory_labels(root, people)


def test_cli_ambiguous_name_fails_or_is_skipped(release, tmp_path):
    namesake = ["Eli Stone", "Male", "1960-01-01", "eli2@example.com", "6 Elm St", "555-010-0006", "900-00-0006"]
    dee, eli = ["Dee Frost", "Female", "1970-07-08", "dee@example.com", "4 Fir St", "555-010-0004", "900-00-0004"], \
        ["Eli Stone", "Male", "1985-09-10", "eli@example.com", "5 Yew St", "555-010-0005", "900-00-0005"]
    write_xlsx(release / "Memory Set/database_full.xlsx", [HEADER, dee, eli, namesake])
    args = ("data", "import", "mmprivacy", "--root", str(release), "--out", str(tmp_path / "out"), "--quiet")
    proc = run_cli(venv_bin("mmpriv"), *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "evaluate_memory.json item 1: the person named is 2 memorised rows of database_full.xlsx (rows 3, 4)" \
        in proc.stderr and "Eli Stone" not in proc.stderr
    proc = run_cli(venv_bin("mmpriv"), *args, "--skip-ambiguous-names")
    assert proc.returncode == 0, proc.stderr
    retention = pq.read_table(tmp_path / "out" / "retention.parquet").to_pylist()
    assert [(r["name"], r["pii_value"]) for r in retention] == [("Dee Frost", "900-00-0004")]
    assert "1 item(s) of evaluate_memory.json name a person who is two memorised rows" in proc.stderr


def test_imported_items_say_whether_the_label_holds_the_value(tmp_path):
    """Of the retention items naming one of the 11 persons whose label upstream released, 33 of 113 ask
    for a value the label does not hold (quoted in the MM-Privacy README); the others' labels are unknown."""
    labels = upstream_labels()
    rows = _retention(tmp_path, skip_ambiguous=True)
    expected = [r["pii_value"] in labels[k]["label"] if (k := int(r["person_id"][-4:])) in labels else None
                for r in rows]
    assert [r["memorised"] for r in rows] == expected
    assert Counter(expected) == Counter({None: 1162 - 113, True: 80, False: 33})
    # Julie Bean's label holds only her e-mail: her phone and SSN items are not memorised
    assert Counter((r["pii_type"], r["memorised"]) for r in rows if r["name"] == "Julie Bean") == Counter(
        {("phone", False): 6, ("ssn", False): 5, ("email", True): 2})
