"""HearSay blind variants (tasks hearsay_blind_<script>_<attribute>) render what each upstream blind script
sends, byte for byte (tests/fixtures/hearsay_upstream/blind_scripts.json), and reach the API that way."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mmpriv_tasks import registry
from mmpriv_tasks.scoring.attribute_schema import ATTRIBUTES, DIMENSIONS
from mmpriv_tasks.tasks.hearsay import BLIND_SCRIPTS, process_blind

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer
from test_hearsay_prompts import rendered

UPSTREAM = json.loads((Path(__file__).parent / "fixtures/hearsay_upstream/blind_scripts.json").read_text())["scripts"]
FIXTURE_KEY = {"qwen25_omni": "qwen2.5-omni"}  # our task names are snake case


def upstream_prompt(script: str, attribute: str) -> str:
    spec = UPSTREAM[script]
    dimension = DIMENSIONS[attribute]
    options = ", ".join(f"'{label}'" for label in spec["taxonomy"][dimension])
    return spec["template"].format(dimension=dimension, options_str=options)


def task_name(script: str, attribute: str) -> str:
    return f"hearsay_blind_{attribute}" if script == "phi" else f"hearsay_blind_{script}_{attribute}"


@pytest.mark.parametrize("script", list(BLIND_SCRIPTS))
def test_blind_variants_render_each_scripts_input_byte_for_byte(script):
    spec = UPSTREAM[FIXTURE_KEY.get(script, script)]
    assert BLIND_SCRIPTS[script].source == spec["source"]
    for attribute in ATTRIBUTES:
        (context,) = set(rendered(task_name(script, attribute)))
        if spec["user_text"]:  # the prompt as the system turn, a fixed user turn, no audio
            system = upstream_prompt(FIXTURE_KEY.get(script, script), attribute)
            assert json.loads(context) == [{"role": "system", "content": system},
                                           {"role": "user", "content": spec["user_text"]}], (script, attribute)
        else:
            assert context == upstream_prompt(FIXTURE_KEY.get(script, script), attribute), (script, attribute)


def test_scripts_differ_where_upstream_does():
    assert upstream_prompt("kimi", "income").count("\n\n") == 0 and upstream_prompt("phi", "income").count("\n\n") == 5
    assert "'High', 'Low', 'Lower-Middle', 'Middle', 'Upper-Middle'" in upstream_prompt("step", "income")
    assert upstream_prompt("qwen3", "age") == upstream_prompt("minicpm", "age") == upstream_prompt("phi", "age")


@pytest.mark.parametrize("script, sampling", [
    ("minicpm", {"temperature": 0.7, "max_gen_toks": 256, "top_p": 0.9}),
    ("step", {"temperature": 0.7, "max_gen_toks": 256, "top_p": 0.9}),
    ("kimi", {"temperature": 0.7, "max_gen_toks": 256, "top_k": 5}),
    ("qwen25_omni", {"temperature": 0.7, "max_gen_toks": 256}),
    ("meralion", {"temperature": 0.7, "max_gen_toks": 256}),
])
def test_each_variant_samples_as_its_script(script, sampling):
    for attribute in ATTRIBUTES:
        config = yaml.safe_load(registry.discover()[task_name(script, attribute)].path.read_text())
        assert config["generation_kwargs"] == {"until": [], "do_sample": True, **sampling}
        assert config["dataset_kwargs"] == {"attribute": attribute, "n": 50, "script": script}


def test_a_guess_outside_phis_candidates_counts_in_the_scripts_own():
    doc = {"id": "b", "attribute": "education", "script": "qwen25_omni", "label": "", "audio": None}
    flags = process_blind(doc, ["Selected Label: Doctorate"])
    assert flags["top_guess"] == "Doctorate" and flags["error_rate"] == 0 and flags["refusal_rate"] == 0


@pytest.mark.slow
def test_system_turn_variant_reaches_the_api_without_audio(tmp_path):
    with FakeOpenAIServer(lambda body: "I hear nothing, so I cannot tell.") as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=m,cache=false", "--tasks",
                       "hearsay_blind_step_income,hearsay_blind_kimi_income", "--limit", "1",
                       "--output_path", str(tmp_path / "out"), cwd=tmp_path)
        bodies = server.bodies()
    assert proc.returncode == 0, proc.stderr[-3000:]
    step = next(b for b in bodies if b["messages"][0]["role"] == "system")
    kimi = next(b for b in bodies if b["messages"][0]["role"] == "user")
    assert step["messages"] == [{"role": "system", "content": upstream_prompt("step", "income")},
                                {"role": "user", "content": "Please analyze the audio."}]
    assert step["top_p"] == 0.9 and step["temperature"] == 0.7 and step["max_tokens"] == 256
    assert [part["type"] for part in kimi["messages"][0]["content"]] == ["input_audio", "text"]
    assert kimi["messages"][0]["content"][1]["text"] == upstream_prompt("kimi", "income") and kimi["top_k"] == 5
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]
    assert results["hearsay_blind_step_income"]["refusal_rate,none"] == 1.0
