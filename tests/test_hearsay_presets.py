"""Generation presets: expansion of ``preset=NAME`` and a real ``mmpriv run`` that sends and records them."""
from __future__ import annotations

import json

import pytest

from mmpriv_tasks.models.presets import PRESETS, expand_argv, expand_model_args, expanded

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer


def test_preset_expands_and_explicit_args_win():
    assert expand_model_args("pretrained=Qwen/Qwen2-Audio-7B-Instruct,preset=qwen2-audio-hearsay") == \
        "preset=qwen2-audio-hearsay,system_prompt=You are a helpful assistant.,max_new_tokens=128," \
        "pretrained=Qwen/Qwen2-Audio-7B-Instruct"
    assert "max_new_tokens=64" in expand_model_args("preset=qwen2-audio-hearsay,max_new_tokens=64")
    assert "max_new_tokens=128" not in expand_model_args("preset=qwen2-audio-hearsay,max_new_tokens=64")
    assert expand_model_args("pretrained=x") == "pretrained=x"
    assert expand_argv(["--model_args=preset=gemini-2.5-flash-hearsay", "--tasks", "t"])[0] == \
        "--model_args=preset=gemini-2.5-flash-hearsay,temperature=0.1,max_new_tokens=512"
    with pytest.raises(ValueError, match="unknown preset 'qwen9'.*qwen2-audio-hearsay"):
        expand_model_args("preset=qwen9")


def test_every_preset_names_its_upstream_source_and_a_wrapper():
    for name, preset in PRESETS.items():
        assert preset.source.startswith(("model_infer/", "Evaluation/")), name
        assert preset.wrapper in ("mmpriv-hf", "mmpriv-api"), name
        assert expanded(name)["preset"] == name


def run_with_preset(tmp_path, model: str, preset: str, limit: int):
    """`mmpriv run` of hearsay_gender_profiler through mmpriv-api with ``preset=``: the process and the request
    bodies the server received."""
    with FakeOpenAIServer(lambda body: "Selected Label: Male") as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model={model},cache=false,preset={preset}",
                       "--tasks", "hearsay_gender_profiler", "--limit", str(limit), "--output_path",
                       str(tmp_path / "out"), cwd=tmp_path)
        return proc, server.bodies()


@pytest.mark.slow
def test_mmpriv_run_sends_and_records_the_preset(tmp_path):
    proc, bodies = run_with_preset(tmp_path, "minicpm", "minicpm-o-hearsay", limit=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert bodies and all(b["temperature"] == 0.1 and b["max_tokens"] == 512 for b in bodies)
    assert all(b["messages"][0] == {"role": "system", "content": "You are a helpful assistant."} for b in bodies)
    config = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["config"]
    recorded = json.dumps(config["model_args"])
    assert "minicpm-o-hearsay" in recorded and "temperature" in recorded and "0.1" in recorded
