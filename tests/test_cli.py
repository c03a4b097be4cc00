"""`mmpriv list | cite | path | registry` through the installed console script."""
from mmpriv_tasks.paths import task_configs_dir

from conftest import run_cli, venv_bin


def test_path_prints_the_task_configs_folder(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "path", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == str(task_configs_dir())


def test_list_shows_version_modality_items_family_citation(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("mmpriv_disclosure_direct "))
    assert line.split() == ["mmpriv_disclosure_direct", "1.0", "image", "60", "mmprivacy", "chen2026mmprivacy"]
    assert "mmpriv_disclosure" in proc.stdout.split("group")[-1]


def test_cite_prints_bibtex_and_pins(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "cite", "mmpriv_disclosure", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("@misc{chen2026mmprivacy,")
    assert proc.stdout.count("% ") >= 6 and "mmpriv_disclosure_caption v1.0 config:" in proc.stdout


def test_cite_unknown_name_is_a_clear_error(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "cite", "no_such_task", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown task or group 'no_such_task'" in proc.stderr


def test_registry_check_passes_on_the_shipped_configs(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "registry", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
