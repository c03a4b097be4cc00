"""`mmpriv new-task` scaffolds a family that runs through lm-eval as soon as it has data."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.scaffold import new_task

from conftest import run_cli, venv_bin


def test_scaffolded_family_runs_with_its_data(tmp_path):
    tasks = tmp_path / "my_tasks"
    proc = run_cli(venv_bin("mmpriv"), "new-task", "form_leaks", "--dest", str(tasks), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tasks / "form_leaks").iterdir()) == [
        "CITATION.bib", "README.md", "_template_yaml", "form_leaks_disclosure_direct.yaml"]
    data = tmp_path / "data"
    data.mkdir()
    rows = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet").slice(0, 3)
    pq.write_table(rows.select(["id", "question", "pii_type", "pii_value", "image"]), data / "test.parquet")
    out = tmp_path / "out"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "form_leaks_disclosure_direct",
                   "--include_path", str(tasks), "--metadata", json.dumps({"data_dir": str(data)}),
                   "--output_path", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]["form_leaks_disclosure_direct"]
    assert results["refusal_rate,none"] == 1 and results["leak_rate,none"] == 0 and results["error_rate,none"] == 0


@pytest.mark.parametrize("family, task, modality, message", [
    ("Bad-Name", "x", "image", "lower snake case"),
    ("ok", "x", "video", "modality 'video'"),
])
def test_bad_names_are_refused(tmp_path, family, task, modality, message):
    with pytest.raises(ValueError, match=message):
        new_task(family, task, modality, tmp_path)


def test_never_overwrites(tmp_path):
    new_task("fam", "a", "audio", tmp_path)
    assert "doc_to_audio" in (tmp_path / "fam" / "_template_yaml").read_text()
    with pytest.raises(ValueError, match="already exists"):
        new_task("fam", "a", "audio", tmp_path)
