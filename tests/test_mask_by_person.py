"""Mask by person: a server that replies with every field of every person a sample shows or names
(asked person, memory person, retention distractor, control-form person), in several formats, leaves
none of those values in any file `mmpriv run` writes, for every MM-Privacy task."""
from __future__ import annotations

import base64

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.api.payload import image_part
from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer, user_parts
from person_formats import formats, leaks

SPLITS = ("disclosure", "retention", "control")
TASKS = ("mmpriv_disclosure,mmpriv_retention,mmpriv_disclosure_control")


def people_by_image_url() -> dict[str, list[dict]]:
    """Image data URL as the API client sends it -> the people of every row showing that image."""
    found: dict[str, list[dict]] = {}
    for split in SPLITS:
        for row in pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet").to_pylist():
            url = image_part(row["image"])["image_url"]["url"]
            found.setdefault(url, []).extend(row["people"])
    return found


def _reply(people_by_image: dict, body: dict) -> str:
    _, images, _ = user_parts(body)
    people = [p for url in images for p in people_by_image[url]]
    return "Here is everything: " + "; ".join(f for person in people for f in formats(person)) + "."


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
    raw = leaks(" ".join(replies), everyone)
    assert len(raw) > 20 * len(everyone)  # the check finds the values where they are
    left = [f"{path.name}: {value}" for path in files for value in leaks(path.read_text(encoding="utf-8"), everyone)]
    assert left == []
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
