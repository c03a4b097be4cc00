"""W&B, Trackio and Hub logging see raw samples: with our tasks `mmpriv run` refuses them in one line
(exit 2, before any model call) unless --keep_pii; with --keep_pii the run goes to lm-eval's logger."""
from __future__ import annotations

import pytest

from fake_openai_server import FakeOpenAIServer

from conftest import run_cli, venv_bin

TASK = "mmpriv_disclosure_direct"


@pytest.mark.parametrize("option, value", [("--wandb_args", "project=x,mode=offline"),
                                           ("--hf_hub_log_args", "hub_results_org=x,push_samples_to_hub=True"),
                                           ("--trackio_args", "project=x")])
def test_loggers_are_refused_with_pii_tasks(tmp_path, option, value):
    with FakeOpenAIServer() as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", TASK, "--limit", "1",
                       "--output_path", str(tmp_path / "out"), option, value, cwd=tmp_path,
                       env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)})
        assert server.count == 0
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"mmpriv: {option} would upload the raw sample records (names, SSNs, emails, "
                                   f"voices) of {TASK} unmasked; pass --keep_pii to allow that, or drop {option}")
    assert not (tmp_path / "out").exists() and not (tmp_path / "wandb").exists()


def test_keep_pii_hands_the_run_to_the_logger(tmp_path):
    """W&B is not installed here: with --keep_pii the run reaches lm-eval's W&B logger (which then
    needs the package), instead of being refused."""
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", TASK, "--limit", "1",
                   "--output_path", str(tmp_path / "out"), "--keep_pii", "--wandb_args", "project=x,mode=offline",
                   cwd=tmp_path, env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)})
    assert "would upload the raw sample records" not in proc.stderr
    assert "wandb" in proc.stderr.lower() and "unmasked" in proc.stderr


def test_write_out_is_refused_and_allowed_with_keep_pii(tmp_path):
    """--write_out prints the first documents raw: refused in one line unless --keep_pii."""
    base = [venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", TASK, "--limit", "1"]
    refused = run_cli(*base, "--write_out", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"mmpriv: --write_out prints raw documents of {TASK} (names, SSNs, emails) to "
                                      "the console; pass --keep_pii to allow that, or drop --write_out")
    allowed = run_cli(*base, "-w", "--keep_pii", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "Sarah Chang" in allowed.stdout + allowed.stderr  # the first document, printed as asked


def test_table_cache_is_owner_only(tmp_path):
    """The Arrow copy of a split holds every record: 0600 in a 0700 folder, even from a 0644 parquet."""
    import os
    import stat

    cache = tmp_path / "cache"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", TASK, "--limit", "1",
                   cwd=tmp_path, env={"MMPRIV_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = list(cache.iterdir())
    assert [f.suffix for f in files] == [".arrow"]
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    os.chmod(files[0], 0o644)  # written by an older version
    again = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", TASK, "--limit", "1",
                    cwd=tmp_path, env={"MMPRIV_CACHE_DIR": str(cache)})
    assert again.returncode == 0 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
