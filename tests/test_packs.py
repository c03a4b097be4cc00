"""Installable task packs: `mmpriv new-task --pack` scaffolds one; once pip-installed (entry point
`mmpriv_tasks.packs`), its tasks work in list / cite / validate / run / report with no --include_path."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin

FAMILY, TASK = "pii_pack", "pii_pack_disclosure_direct"

REPORT_HOOK = '''
from mmpriv_tasks.report.blocks import Section, Text

GLOSSARY = {"pack_metric": "defined by the pii_pack family"}


def section(runs, tasks):
    ran = [r.label for r in runs if set(r.tasks) & tasks]
    return Section("PII pack", [Text("pack section for " + ", ".join(ran))]) if ran else None
'''


@pytest.fixture(scope="module")
def installed_pack(tmp_path_factory):
    """The scaffolded pack, given 3 rows of data, pinned, and pip-installed into a --target folder;
    returns the environment that puts that folder on sys.path."""
    root = tmp_path_factory.mktemp("pack")
    proc = run_cli(venv_bin("mmpriv"), "new-task", FAMILY, "--pack", "--dest", str(root), cwd=root)
    assert proc.returncode == 0, proc.stderr
    project = root / "mmpriv-pack-pii-pack"
    assert {"pyproject.toml", "README.md", "tests"} <= {p.name for p in project.iterdir()}
    assert '[project.entry-points."mmpriv_tasks.packs"]' in (project / "pyproject.toml").read_text()
    assert "## Checklist" in (project / "README.md").read_text()
    package = project / FAMILY
    assert (package / "task_configs" / FAMILY / "CITATION.bib").is_file()
    rows = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet").slice(0, 3)
    pq.write_table(rows.select(["id", "question", "pii_type", "pii_value", "image"]), package / "data" / "test.parquet")
    (package / "task_configs" / FAMILY / "report.py").write_text(REPORT_HOOK)
    proc = run_cli(venv_bin("mmpriv"), "registry", "--configs", str(package / "task_configs"), "--update",
                   env={"PYTHONPATH": str(project)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    site = root / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), str(project)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_pack_tasks_are_listed_cited_and_validated(installed_pack, tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "list", cwd=tmp_path, env=installed_pack)
    assert proc.returncode == 0, proc.stderr
    assert next(l for l in proc.stdout.splitlines() if l.startswith(TASK + " ")).split()[-2:] == [FAMILY, FAMILY]
    assert TASK not in run_cli(venv_bin("mmpriv"), "list", cwd=tmp_path).stdout  # not installed: not listed
    proc = run_cli(venv_bin("mmpriv"), "cite", TASK, cwd=tmp_path, env=installed_pack)
    assert proc.returncode == 0 and proc.stdout.startswith(f"@misc{{{FAMILY},") and f"{TASK} v1.0 config:" in proc.stdout
    proc = run_cli(venv_bin("mmpriv"), "validate", "--tasks", TASK, cwd=tmp_path, env=installed_pack)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok       {TASK}: 3 docs" in proc.stdout


def test_pack_task_runs_end_to_end_and_reports(installed_pack, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", TASK, "--output_path", str(out),
                   cwd=tmp_path, env=installed_pack)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"][TASK]
    assert results["refusal_rate,none"] == 1 and results["error_rate,none"] == 0
    proc = run_cli(venv_bin("mmpriv"), "report", str(out), cwd=tmp_path, env=installed_pack)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    assert "## PII pack" in report and "pack section for refuse-all" in report  # the pack's own report hook
    assert "`pack_metric`" in report and f"| {TASK} | 3 |" in report
