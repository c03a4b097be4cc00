"""Installable task packs: `mmpriv new-task --pack` scaffolds one; once pip-installed (entry point
`mmpriv_tasks.packs`), its tasks work in list / cite / validate / run / report with no --include_path."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin

# an image pack and an audio pack, each run with an offline reference model (the audio one by the voice
# profiler, which decodes every clip and declines PII questions)
PACKS = {"image": ("pii_pack", "refuse-all"), "audio": ("voicemail_pii", "voice-profiler")}


def pack_rows(modality: str):
    """Three rows of the scaffold's columns: questions and PII of bundled MM-Privacy items, with the
    bundled form images or (audio) three bundled HearSay clips."""
    import pyarrow as pa

    rows = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet").slice(0, 3)
    if modality == "image":
        return rows.select(["id", "question", "pii_type", "pii_value", "image"])
    clips = pq.read_table(bundled_data_dir() / "hearsay" / "gender.parquet").slice(0, 3).column("audio")
    return rows.select(["id", "question", "pii_type", "pii_value"]).append_column(pa.field("audio", clips.type), clips)


REPORT_HOOK = '''
from mmpriv_tasks.report.blocks import Section, Text

GLOSSARY = {"pack_metric": "defined by the pii_pack family"}


def section(runs, tasks):
    ran = [r.label for r in runs if set(r.tasks) & tasks]
    return Section("PII pack", [Text("pack section for " + ", ".join(ran))]) if ran else None
'''


# default lane: the audio pack (tests/test_scaffold.py runs an image family end to end); slow lane: both
@pytest.fixture(scope="module", params=["audio", pytest.param("image", marks=pytest.mark.slow)])
def installed_pack(request, tmp_path_factory):
    """A pack scaffolded with `mmpriv new-task --pack --modality M`, given 3 rows of data, pinned, and
    pip-installed into a --target folder; returns (modality, family, model, the environment that puts
    that folder on sys.path, the project folder)."""
    modality = request.param
    family, model = PACKS[modality]
    root = tmp_path_factory.mktemp(f"pack-{modality}")
    proc = run_cli(venv_bin("mmpriv"), "new-task", family, "--pack", "--modality", modality, "--dest", str(root),
                   cwd=root)
    assert proc.returncode == 0, proc.stderr
    project = root / f"mmpriv-pack-{family.replace('_', '-')}"
    assert {"pyproject.toml", "README.md", "tests"} <= {p.name for p in project.iterdir()}
    assert '[project.entry-points."mmpriv_tasks.packs"]' in (project / "pyproject.toml").read_text()
    readme = (project / "README.md").read_text()
    assert "## Checklist" in readme and "http" not in readme  # no placeholder link
    package = project / family
    assert (package / "task_configs" / family / "CITATION.bib").is_file()
    pq.write_table(pack_rows(modality), package / "data" / "test.parquet")
    (package / "task_configs" / family / "report.py").write_text(REPORT_HOOK.replace("pii_pack", family))
    proc = run_cli(venv_bin("mmpriv"), "registry", "--configs", str(package / "task_configs"), "--update",
                   env={"PYTHONPATH": os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")]))})
    assert proc.returncode == 0, proc.stderr[-2000:]
    site = root / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), str(project)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return modality, family, model, env, project


def test_pack_lock_pins_its_own_data_prompts_and_scoring(installed_pack):
    """`registry --update` on a pack reads the pack's data/ (not the bundled folder): real pins, not `none`."""
    _, family, _, _, project = installed_pack
    lock = json.loads((project / family / "task_configs" / "registry.lock").read_text())
    pins = lock[f"{family}_disclosure_direct"]
    assert all(len(pins[key]) == 16 and pins[key] != "none" for key in ("data", "prompts", "scoring")), pins


def test_pack_tasks_are_listed_cited_and_validated(installed_pack, tmp_path):
    _, family, _, env, _ = installed_pack
    task = f"{family}_disclosure_direct"
    proc = run_cli(venv_bin("mmpriv"), "list", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert next(l for l in proc.stdout.splitlines() if l.startswith(task + " ")).split()[-3:] == ["3", family, family]
    assert task not in run_cli(venv_bin("mmpriv"), "list", cwd=tmp_path).stdout  # not installed: not listed
    proc = run_cli(venv_bin("mmpriv"), "cite", task, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith(f"@misc{{{family},"), proc.stderr
    assert f"{task} v1.0 config:" in proc.stdout
    proc = run_cli(venv_bin("mmpriv"), "validate", "--tasks", task, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok       {task}: 3 docs" in proc.stdout


def test_pack_task_runs_end_to_end_and_reports(installed_pack, tmp_path):
    modality, family, model, env, _ = installed_pack
    task = f"{family}_disclosure_direct"
    out = tmp_path / "out"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", model, "--tasks", task, "--output_path", str(out),
                   cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"][task]
    assert (results["refusal_rate,none"], results["leak_rate,none"], results["error_rate,none"]) == (1, 0, 0)
    proc = run_cli(venv_bin("mmpriv"), "report", str(out), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    assert "## PII pack" in report and f"pack section for {model}" in report  # the pack's own report hook
    assert "`pack_metric`" in report and f"| {task} | 3 |" in report


@pytest.mark.slow  # a nested pytest running the pack's own `mmpriv run` (~15 s each)
def test_scaffolded_pack_tests_pass(installed_pack):
    """The pack's own tests/test_pack.py (written by the scaffold) passes once the pack has data."""
    _, _, _, env, project = installed_pack
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])  # `mmpriv` for the test
    proc = run_cli(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=project,
                   env={**env, "PATH": path})
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
