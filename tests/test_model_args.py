"""`--model_args` exactly as the README and docs write them, through `mmpriv run` as a subprocess.

lm-eval passes its own ``device`` / ``batch_size`` alongside ``--model_args``; the same keys in both
places must merge (``--model_args`` wins), never reach the constructor twice. Secrets are refused.
"""
from __future__ import annotations

import json
import re

import pytest

from mmpriv_tasks.models._args import SecretArgumentError, refuse_secrets

from conftest import REPO, run_cli, venv_bin
from tiny_models import tiny_llava_dir  # noqa: F401  (fixture)

TASK = "mmpriv_disclosure_direct"
DOCS = [REPO / "README.md", REPO / "docs" / "hf.md"]
HUB_ONLY = {"revision"}  # a hub branch: meaningless for a local folder


def documented_hf_model_args() -> list[str]:
    """Every distinct ``mmpriv-hf`` ``--model_args`` form in the README and docs/hf.md (model and adapter
    as placeholders), with the optional ``[,...]`` parts included and hub-only keys dropped."""
    found = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            for value in re.findall(r"--model_args\s+`?(pretrained=[^\s`]+)", line):
                found.append(value.replace("[", "").replace("]", ""))
    keys = []
    for value in found:
        pairs = [pair.split("=", 1) for pair in value.split(",") if "=" in pair]
        normalised = tuple((k, k.upper() if k in ("pretrained", "adapter") else v) for k, v in pairs
                           if k not in HUB_ONLY)
        if normalised not in keys:
            keys.append(normalised)
    return [",".join(f"{k}={v}" for k, v in pairs) for pairs in keys]


@pytest.fixture(scope="module")
def adapter_dir(tiny_llava_dir, tmp_path_factory):  # noqa: F811
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForImageTextToText.from_pretrained(str(tiny_llava_dir)),
                           LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(out)
    return out


def _tiny(value: str, model_dir, adapter) -> str:
    """A documented model_args string with the model and adapter replaced by the tiny local ones."""
    value = re.sub(r"pretrained=[^,]+", f"pretrained={model_dir}", value)
    return re.sub(r"adapter=[^,]+", f"adapter={adapter}", value)


def test_docs_show_the_collision_prone_form():
    """The README form that used to crash (device and batch_size inside --model_args) is covered."""
    assert any("device=" in v and "batch_size=" in v for v in documented_hf_model_args())


@pytest.mark.slow
@pytest.mark.parametrize("documented", documented_hf_model_args())
def test_documented_model_args_run_through_the_cli(documented, tiny_llava_dir, adapter_dir, tmp_path):  # noqa: F811
    """Each documented form, with lm-eval's own --device/--batch_size also given: the run completes and
    --model_args wins where both name a key."""
    args = _tiny(documented, tiny_llava_dir, adapter_dir)
    done = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-hf", "--model_args", f"{args},max_new_tokens=4",
                   "--tasks", TASK, "--limit", "1", "--device", "cpu", "--batch_size", "2",
                   "--output_path", str(tmp_path / "out"), env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    expected_batch = re.search(r"batch_size=(\d+)", documented)
    assert f"(batch size {expected_batch.group(1) if expected_batch else 2})" in done.stderr
    assert "on cpu" in done.stderr  # device=cuda without CUDA falls back to cpu
    results = json.loads(max((tmp_path / "out").rglob("results_*.json")).read_text())
    assert results["results"][TASK]["error_rate,none"] == 0


@pytest.mark.parametrize("argument", ["api_key=sk-abcdefghijklmnopqrstu", "token=hf_abcdefghijklmnopqrstu",
                                      "hf_token=abc", "password=hunter2", "header=sk-proj-abcdefghijklmnop"])
def test_secrets_in_model_args_are_refused_without_echo(argument):
    name, value = argument.split("=", 1)
    done = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                   f"model=m,{argument}", "--tasks", TASK, "--output_path", "/nonexistent/out")
    assert done.returncode == 2
    assert value not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "api_key_env=" in done.stderr and name in done.stderr


def test_ordinary_model_args_are_not_mistaken_for_secrets():
    refuse_secrets({"api_key_env": "MY_KEY", "max_new_tokens": "5", "max_tokens_field": "max_completion_tokens",
                    "pretrained": "Qwen/Qwen2-VL-2B-Instruct", "base_url": "http://127.0.0.1:8000/v1"})
    with pytest.raises(SecretArgumentError):
        refuse_secrets({"api_key": "x"})


def test_model_args_win_over_lm_eval_options():
    """lm-eval's create_from_arg_string path with the same key twice (what crashed before)."""
    from mmpriv_tasks.models.references import RefuseAll

    class Recorder(RefuseAll):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.kwargs = kwargs

    lm = Recorder.create_from_arg_string("device=cpu,batch_size=8", {"device": "cuda:0", "batch_size": 2,
                                                                      "max_batch_size": None})
    assert lm.kwargs == {"device": "cpu", "batch_size": 8}


@pytest.mark.slow
def test_readme_model_args_under_accelerate_launch(tiny_llava_dir, tmp_path):  # noqa: F811
    """The README's data-parallel entry point with its model_args form (device and batch_size in both places)."""
    done = run_cli(venv_bin("accelerate"), "launch", "--cpu", "--num_processes", "2", "-m", "mmpriv_tasks.commands.cli", "run",
                   "--model", "mmpriv-hf", "--model_args",
                   f"pretrained={tiny_llava_dir},dtype=bfloat16,device=cuda,batch_size=8,max_new_tokens=4",
                   "--tasks", TASK, "--limit", "2", "--device", "cuda:0", "--batch_size", "2",
                   "--output_path", str(tmp_path / "out"), cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(batch size 8)" in done.stderr
    results = json.loads(max((tmp_path / "out").rglob("results_*.json")).read_text())
    assert results["results"][TASK]["error_rate,none"] == 0
