"""Mask by person: a server that replies with every field of every person a sample shows or names
(asked person, memory person, retention distractor, control-form person), in several formats, leaves
none of those values in any file `mmpriv run` writes, for every MM-Privacy task."""
from __future__ import annotations

import base64
import re
from datetime import date

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.api.payload import image_part
from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer, user_parts

SPLITS = ("disclosure", "retention", "control")
TASKS = ("mmpriv_disclosure,mmpriv_retention,mmpriv_disclosure_control")
DIGITS = "zero one two three four five six seven eight nine".split()


def people_by_image_url() -> dict[str, list[dict]]:
    """Image data URL as the API client sends it -> the people of every row showing that image."""
    found: dict[str, list[dict]] = {}
    for split in SPLITS:
        for row in pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet").to_pylist():
            url = image_part(row["image"])["image_url"]["url"]
            found.setdefault(url, []).extend(row["people"])
    return found


def _formats(person: dict) -> list[str]:
    """Every field of ``person``, each written several ways."""
    digits = {k: "".join(c for c in person[k] if c.isdigit()) for k in ("ssn", "phone")}
    phone = digits["phone"][:10]
    born = date.fromisoformat(person["birth_date"])
    local, _, domain = person["email"].partition("@")
    return [
        person["name"], person["name"].upper(), f"{person['last_name']}, {person['first_name']}",
        person["address"], person["address"].upper(), person["birth_date"], born.strftime("%m/%d/%Y"),
        f"{born.strftime('%B')} {born.day}, {born.year}", f"{born.day} {born.strftime('%B %Y')}",
        person["email"], person["email"].upper(), f"{local} [at] {domain.replace('.', ' [dot] ')}",
        person["phone"], phone, f"({phone[:3]}) {phone[3:6]}-{phone[6:]}", f"+1 {phone[:3]} {phone[3:6]} {phone[6:]}",
        person["ssn"], digits["ssn"], f"{digits['ssn'][:3]} {digits['ssn'][3:5]} {digits['ssn'][5:]}",
        " ".join(DIGITS[int(d)] for d in digits["ssn"]),
    ]


def _reply(people_by_image: dict, body: dict) -> str:
    _, images, _ = user_parts(body)
    people = [p for url in images for p in people_by_image[url]]
    return "Here is everything: " + "; ".join(f for person in people for f in _formats(person)) + "."


def _leaks(text: str, people: list[dict]) -> list[str]:
    """The values of ``people`` still in ``text``: any format of :func:`_formats` (any case), the
    digits of an SSN or phone inside a run of digits and separators, a first or last name as a word."""
    lower = text.lower()
    runs = [re.sub(r"\D", "", run) for run in re.findall(r"\d[\d\s().\-/]*\d", text)]
    words = set(re.findall(r"[A-Za-z]+", text))
    found = []
    for person in people:
        found += [form for form in _formats(person) if form.lower() in lower]
        digits = {"ssn": re.sub(r"\D", "", person["ssn"]), "phone": re.sub(r"\D", "", person["phone"])[:10]}
        found += [f"{kind} {value}" for kind, value in digits.items() if any(value in run for run in runs)]
        found += [person[part] for part in ("first_name", "last_name") if person[part] in words]
    return found


@pytest.mark.slow
def test_every_field_of_every_person_is_masked_in_every_file(tmp_path):
    people_by_image = people_by_image_url()
    with FakeOpenAIServer(answer=lambda body: _reply(people_by_image, body)) as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", TASKS,
                       "--output_path", str(tmp_path / "out"), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        bodies = server.bodies()
    assert len(bodies) == 5 * 60 + 10 * 12 + 12  # five disclosure formats, ten retention tasks, control
    replies = [_reply(people_by_image, body) for body in bodies]
    everyone = [p for people in people_by_image.values() for p in people]
    shown = {v for person in everyone for v in (person["ssn"], person["email"])}
    assert all(any(v in reply for reply in replies) for v in shown)  # every person's values were sent back
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name.split("_")[0] for p in files} == {"results", "samples"}
    raw = _leaks(" ".join(replies), everyone)
    assert len(raw) > 20 * len(everyone)  # the check finds the values where they are
    leaks = [f"{path.name}: {value}" for path in files for value in _leaks(path.read_text(encoding="utf-8"), everyone)]
    assert leaks == []
    assert "[DISTRACTOR_" in "".join(p.read_text() for p in files)  # placeholders were written


def test_formats_cover_the_distractor_and_control_person():
    """The reply of a control item names its form's person; a distractor item both people."""
    people_by_image = people_by_image_url()
    rows = {split: pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet").to_pylist()
            for split in ("retention", "control")}
    distractor = next(r for r in rows["retention"] if r["condition"] == "distractor")
    body = {"messages": [{"role": "user", "content": [image_part(distractor["image"]), {"type": "text", "text": "q"}]}]}
    reply = _reply(people_by_image, body)
    assert [p["name"] for p in distractor["people"]] == ["Christopher Cooper", "Mark Herrera"]
    assert "Mark Herrera" in reply and "722-22-2125" in reply and "598-583-2363x33468" in reply
    control = rows["control"][0]
    assert control["people"][0]["name"] == "Brandon Cobb"
    assert base64.b64decode(image_part(control["image"])["image_url"]["url"].split(",", 1)[1])[:4] == b"\x89PNG"
