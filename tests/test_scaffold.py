"""`mmpriv new-task` scaffolds a family that runs through lm-eval as soon as it has data."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.commands.scaffold import new_task

from conftest import run_cli, venv_bin


def test_scaffolded_family_runs_with_its_data(tmp_path):
    tasks = tmp_path / "my_tasks"
    proc = run_cli(venv_bin("mmpriv"), "new-task", "form_leaks", "--dest", str(tasks), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"`mmpriv registry --configs {tasks} --update`" in proc.stdout and f"`--include_path {tasks}`" in proc.stdout
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


def test_pack_scaffold_is_an_installable_project(tmp_path):
    """`--pack` writes a pip project whose entry point returns the folder holding the family
    (installed and run end to end in tests/test_packs.py)."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    proc = run_cli(venv_bin("mmpriv"), "new-task", "voice_pack", "--pack", "--modality", "audio", "--dest",
                   str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "mmpriv-pack-voice-pack"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["mmpriv_tasks.packs"] == {"voice_pack": "voice_pack:task_configs"}
    family = project / "voice_pack" / "task_configs" / "voice_pack"
    assert "custom_dataset: !function voice_pack.data.load_split" in (family / "_template_yaml").read_text()
    assert "doc_to_audio" in (family / "_template_yaml").read_text()
    assert {"CITATION.bib", "README.md", "voice_pack_disclosure_direct.yaml"} <= {p.name for p in family.iterdir()}
    assert "voice_pack_disclosure_direct" in (project / "tests" / "test_pack.py").read_text()
    with pytest.raises(ValueError, match="already exists"):
        from mmpriv_tasks.commands.scaffold import new_pack

        new_pack("voice_pack", "x", "audio", tmp_path)
