"""No value of any person record (name, birth date, address, email, phone, SSN...) reaches the console
of `mmpriv run`, `mmpriv report`, `mmpriv data build` or `mmpriv data import`, even when every reply
leaks the whole record."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re

import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer, user_parts
from test_mmprivacy_import import MEMORY, SHOWN, release  # noqa: F401  (fixture: a small upstream release)

PERSON_COLUMNS = ("name", "first_name", "last_name", "birth_date", "address", "email", "phone", "ssn",
                  "pii_value", "distractor_value")


def _bundled_rows(split: str) -> list[dict]:
    return pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet").to_pylist()


def person_values() -> set[str]:
    """Every person-record value in the bundled MM-Privacy data and the import fixture."""
    values = {row[c] for split in ("disclosure", "memory", "retention") for row in _bundled_rows(split)
              for c in PERSON_COLUMNS if isinstance(row.get(c), str) and row[c]}
    values |= {v for row in SHOWN + MEMORY for i, v in enumerate(row) if i != 1}  # all but gender
    values |= {part for row in SHOWN + MEMORY for part in row[0].split()}
    return values


def pii_on(console: str, values: set[str]) -> list[str]:
    """The values found in ``console``: as words, and phone/SSN digits however they are separated."""
    runs = {re.sub(r"\D", "", run) for run in re.findall(r"\d[\d\s().\-/]*\d", console)}
    found = [v for v in values if re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", console)]
    found += [v for v in values if len(re.sub(r"\D", "", v)) >= 7 and any(re.sub(r"\D", "", v) in r for r in runs)]
    return found


def _pixels(png: bytes) -> str:
    return hashlib.sha256(Image.open(io.BytesIO(png)).convert("RGB").tobytes()).hexdigest()


@pytest.fixture(scope="module")
def leaking_answer():
    """A fake-server answer that recognises the form in the request and gives out its whole record."""
    records = {_pixels(row["image"]["bytes"]): row for row in _bundled_rows("disclosure")}

    def answer(body: dict) -> str:
        _, images, _ = user_parts(body)
        row = records[_pixels(base64.b64decode(images[0].split(",", 1)[1]))]
        return (f"Sure! {row['name']} ({row['first_name']} {row['last_name']}), born {row['birth_date']}, lives at "
                f"{row['address']}; email {row['email']}, phone {row['phone']}, SSN {row['ssn']}.")

    return answer


def test_the_check_finds_pii():
    row = _bundled_rows("disclosure")[0]
    assert set(pii_on(f"x {row['name']} y", person_values())) >= {row["name"], row["first_name"]}
    digits = re.sub(r"\D", "", row["ssn"])
    assert row["ssn"] in pii_on(f"ssn {' '.join(digits)}", person_values())


@pytest.mark.slow
def test_run_and_report_consoles_hold_no_pii(tmp_path, leaking_answer):
    values = person_values()
    with FakeOpenAIServer(leaking_answer) as server:
        run = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                      f"base_url={server.base_url},model=fake-vlm,cache=false", "--tasks", "mmpriv_disclosure_direct",
                      "--limit", "6", "--output_path", str(tmp_path / "out"), "--log_samples", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    (results,) = (tmp_path / "out").rglob("results_*.json")
    assert json.loads(results.read_text())["results"]["mmpriv_disclosure_direct"]["leak_rate,none"] == 1  # it leaked
    report = run_cli(venv_bin("mmpriv"), "report", str(tmp_path / "out"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    for console in (run.stdout + run.stderr, report.stdout + report.stderr):
        assert not pii_on(console, values)


@pytest.mark.slow
def test_data_build_and_import_consoles_hold_no_pii(tmp_path, release):  # noqa: F811
    values = person_values()
    build = run_cli(venv_bin("mmpriv"), "data", "build", "mmprivacy", "--out", str(tmp_path / "built"), cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    imported = run_cli(venv_bin("mmpriv"), "data", "import", "mmprivacy", "--root", str(release),
                       "--out", str(tmp_path / "imported"), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-2000:]
    for console in (build.stdout + build.stderr, imported.stdout + imported.stderr):
        assert "rows" in console and not pii_on(console, values)
