"""A non-editable install (the built wheel) ships task configs, metrics and bundled data inside
the package, with no top-level `metrics` module, and resolves them from any directory."""
from __future__ import annotations

import json
import sys
import zipfile

import pytest

from conftest import REPO, run_cli


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    build = tmp_path_factory.mktemp("wheel")
    proc = run_cli(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(build),
                   str(REPO))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = build.glob("mmpriv_tasks-*.whl")
    site = build / "site"
    proc = run_cli(sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return wheel, site


def test_wheel_has_configs_metrics_and_data_inside_the_package(wheel_site):
    wheel, _ = wheel_site
    names = zipfile.ZipFile(wheel).namelist()
    assert "mmpriv_tasks/task_configs/mmprivacy/mmpriv_disclosure_direct.yaml" in names
    assert "mmpriv_tasks/task_configs/registry.lock" in names
    assert "mmpriv_tasks/metrics/mmpriv_leak/mmpriv_leak.py" in names
    assert "mmpriv_tasks/bundled/mmprivacy/disclosure.parquet" in names
    assert not [n for n in names if n.split("/")[0] in {"metrics", "task_configs", "tests"}]


@pytest.mark.slow
def test_installed_copy_resolves_its_own_files_from_elsewhere(wheel_site, tmp_path):
    _, site = wheel_site
    env = {"PYTHONPATH": str(site)}
    code = ("import json, mmpriv_tasks.paths as p, mmpriv_tasks.registry as r; "
            "print(json.dumps([str(p.task_configs_dir()), str(p.metrics_dir()), "
            "r.discover()['mmpriv_disclosure_direct'].num_items()]))")
    proc = run_cli(sys.executable, "-c", code, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    configs, metrics, items = json.loads(proc.stdout)
    assert configs.startswith(str(site)) and metrics.startswith(str(site))
    assert items == 60
    proc = run_cli(sys.executable, "-m", "lm_eval", "validate", "--tasks", "mmpriv_disclosure_direct",
                   "--include_path", configs, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
