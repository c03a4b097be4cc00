"""Secrets in every accepted form of `--model_args` (key=value, JSON, a URL with a password, an
lm-eval --config file) end `mmpriv run` with one line naming the argument, before lm-eval sees
them: the secret is on no console and in no file."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli, venv_bin

SECRET = "hunter2-Zq8vX7wP"
BASE = "base_url=http://127.0.0.1:9/v1,model=fake"


@pytest.mark.parametrize("model_args, named", [
    (f"{BASE},api_key={SECRET}", "api_key"),
    (f"{BASE},credentials={SECRET}", "credentials"),
    (f"{BASE},db_password={SECRET}", "db_password"),
    (f"{BASE},access-token={SECRET}", "access-token"),
    (f"{BASE},organization=sk-{SECRET}", "organization"),
    (f"base_url=http://user:{SECRET}@127.0.0.1:9/v1,model=fake", "base_url"),
    (json.dumps({"base_url": "http://127.0.0.1:9/v1", "model": "fake", "api_key": SECRET}), "api_key"),
    (json.dumps({"model": "fake", "extra": {"client_secret": SECRET}}), "client_secret"),
    (json.dumps({"model": "fake", "base_url": f"https://u:{SECRET}@h/v1"}), "base_url"),
    ("CONFIG", "api_key"),
])
def test_secret_never_reaches_console_or_files(tmp_path, model_args, named):
    args = ["--model_args", model_args]
    if model_args == "CONFIG":
        config = tmp_path / "run.yaml"
        config.write_text(f"model: mmpriv-api\nmodel_args:\n  model: fake\n  api_key: {SECRET}\ntasks: [x]\n")
        args = ["--config", str(config)]
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", *args, "--tasks", "mmpriv_disclosure_direct",
                   "--limit", "1", "--output_path", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert f"'{named}=...'" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "run.yaml"]
    assert all(SECRET not in p.read_text(errors="replace") for p in written) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("model_args", ["max_tokens_field=max_completion_tokens,max_new_tokens=5",
                                        "api_key_env=MY_KEY,base_url=https://example.org/v1"])
def test_ordinary_arguments_pass(model_args):
    from mmpriv_tasks.models._args import parse_model_args, refuse_secrets

    refuse_secrets(parse_model_args(model_args))
