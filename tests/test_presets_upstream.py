"""Generation presets shape requests as the upstream scripts do (tests/fixtures/hearsay_upstream/presets.json):
through the real API model class (payloads), the HF wrapper on a tiny Qwen2-Audio, and one `mmpriv run`."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mmpriv_tasks.models.openai_compat import OpenAICompatLM
from mmpriv_tasks.models.presets import PRESETS, expanded

from conftest import wav_bytes
from test_hearsay_presets import run_with_preset
from tiny_models import one_torch_thread, tiny_qwen2_audio_dir  # noqa: F401  (fixtures)

UPSTREAM = json.loads((Path(__file__).parent / "fixtures/hearsay_upstream/presets.json").read_text())["presets"]
PROMPT = "Current Analysis Dimension: **Gender**"
MEDIA = {"audio": [{"bytes": wav_bytes(), "path": None}]}


def api_payload(preset: str, gen_kwargs: dict | None = None) -> dict:
    args = {key: value for key, value in expanded(preset).items() if key != "preset"}
    lm = OpenAICompatLM(model="m", base_url="http://127.0.0.1:9/v1", cache=False, **args)
    return lm.build_payload(PROMPT, gen_kwargs or {"until": []}, MEDIA, "s")


def test_every_upstream_preset_names_its_source():
    for name, spec in UPSTREAM.items():
        assert PRESETS[name].source == spec["source"], name


def test_meralion_wraps_the_prompt_in_its_speech_instruction():
    body = api_payload("meralion-hearsay")
    text = body["messages"][0]["content"][-1]["text"]
    assert text == UPSTREAM["meralion-hearsay"]["template"].format(query=PROMPT)
    assert body["max_tokens"] == 256


def test_step_sends_the_prompt_as_system_turn_and_the_audio_alone():
    body = api_payload("step-audio-2-mini-hearsay")
    assert body["messages"][0] == {"role": "system", "content": PROMPT}
    assert [part["type"] for part in body["messages"][1]["content"]] == ["input_audio"]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.5, 0.9, 256)


def test_kimi_samples_with_top_k_5_unless_the_task_says_otherwise():
    body = api_payload("kimi-audio-hearsay")
    assert (body["temperature"], body["top_k"]) == (0.1, 5)
    assert api_payload("kimi-audio-hearsay", {"until": [], "top_k": 9})["top_k"] == 9
    assert "top_k" not in api_payload("kimi-audio-hearsay", {"until": [], "do_sample": False})  # greedy


@pytest.mark.parametrize("preset", ["qwen3-omni-flash-hearsay", "qwen-omni-turbo-hearsay"])
def test_dashscope_presets_send_audio_as_a_data_uri(preset):
    (audio,) = [p for p in api_payload(preset)["messages"][0]["content"] if p["type"] == "input_audio"]
    prefix = UPSTREAM[preset]["audio_data"].format(ext="wav", b64="")
    assert audio["input_audio"]["data"].startswith(prefix) and audio["input_audio"]["format"] == "wav"
    assert base64.b64decode(audio["input_audio"]["data"][len(prefix):])[:4] == b"RIFF"
    (plain,) = [p for p in api_payload("gemini-2.5-flash-hearsay")["messages"][0]["content"]
                if p["type"] == "input_audio"]
    assert plain["input_audio"]["data"][:4] == base64.b64encode(b"RIFF")[:4].decode()


def test_xgen_preset_is_the_scripts_system_message():
    assert expanded("xgen-mm-mmprivacy")["system_prompt"] == UPSTREAM["xgen-mm-mmprivacy"]["system"]
    assert expanded("xgen-mm-mmprivacy")["max_new_tokens"] == UPSTREAM["xgen-mm-mmprivacy"]["max_new_tokens"]


@pytest.mark.usefixtures("one_torch_thread")
def test_qwen25_omni_preset_on_the_hf_wrapper(tiny_qwen2_audio_dir):  # noqa: F811
    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    args = {key: value for key, value in expanded("qwen2.5-omni-hearsay").items() if key != "preset"}
    lm = HFMultimodalChatLM(pretrained=str(tiny_qwen2_audio_dir), device="cpu", **args)
    expected = lm.processor.apply_chat_template(
        [{"role": "system", "content": PROMPT}, {"role": "user", "content": [{"type": "audio"}]}],
        tokenize=False, add_generation_prompt=True)
    assert lm._prepare("s", PROMPT, MEDIA)["prompt"] == expected
    seen = []
    generate = lm.model.generate
    lm.model.generate = lambda **kw: seen.append(kw) or generate(**kw)
    lm._generate([lm._prepare("s", PROMPT, MEDIA)], {"until": [], "max_gen_toks": 5})
    lm._generate([lm._prepare("s", PROMPT, MEDIA)], {"until": [], "do_sample": False})
    assert "do_sample" not in seen[0] and "temperature" not in seen[0] and seen[0]["max_new_tokens"] == 256
    assert seen[1]["do_sample"] is False


@pytest.mark.slow
def test_mmpriv_run_with_the_step_preset(tmp_path):
    proc, bodies = run_with_preset(tmp_path, "step", "step-audio-2-mini-hearsay", limit=1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (body,) = bodies
    assert body["messages"][0]["role"] == "system" and "Forensic Vocal Profiler" in body["messages"][0]["content"]
    assert [part["type"] for part in body["messages"][1]["content"]] == ["input_audio"]
    assert body["top_p"] == 0.9 and body["temperature"] == 0.5
