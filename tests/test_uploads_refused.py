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
