"""`mmpriv-hf` on tiny random LLaVA (image) and Qwen2-Audio (audio) models built offline."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lm_eval.api.instance import Instance
from PIL import Image

from mmpriv_tasks.errors import parse_error
from mmpriv_tasks.inputs.media import encode_png, encode_wav
from mmpriv_tasks.paths import bundled_data_dir

from tiny_models import tiny_llava_dir, tiny_qwen2_audio_dir, one_torch_thread  # noqa: F401  (fixtures)

TASK = "mmpriv_disclosure_direct"
pytestmark = pytest.mark.usefixtures("one_torch_thread")
GEN = {"until": [], "max_gen_toks": 12, "do_sample": False}


def request(context: str, media: dict, gen_kwargs: dict | None = None, doc_id: int = 0) -> Instance:
    return Instance("generate_until", {}, (context, dict(gen_kwargs or GEN), media), doc_id,
                    metadata=("unit", doc_id, 1))


@pytest.fixture(scope="module")
def llava(tiny_llava_dir):  # noqa: F811
    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    return HFMultimodalChatLM(pretrained=str(tiny_llava_dir), device="cpu", batch_size=3)


def _image(color: str, size=(48, 40)) -> Image.Image:
    return Image.open(__import__("io").BytesIO(encode_png(Image.new("RGB", size, color))))  # unloaded, like tasks


def test_registered_and_flags():
    import mmpriv_tasks  # noqa: F401
    from lm_eval.api.registry import get_model

    cls = get_model("mmpriv-hf")
    assert cls.__name__ == "HFMultimodalChatLM" and cls.MULTIMODAL is True


def test_model_class_table():
    from mmpriv_tasks.models.hf_multimodal import model_class_for, model_class_name

    def name(model_type, override=None):
        return model_class_name(SimpleNamespace(model_type=model_type), override)

    assert name("qwen2_audio") == "Qwen2AudioForConditionalGeneration"
    assert name("qwen2_5_omni") == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert name("phi4_multimodal") == "Phi4MultimodalForCausalLM"
    assert name("gemma3") == "Gemma3ForConditionalGeneration"
    assert name("llava") == name("qwen2_5_vl") == "AutoModelForImageTextToText"
    assert name("llama") == "AutoModelForCausalLM"
    assert name("llava", "AutoModelForCausalLM") == "AutoModelForCausalLM"
    assert model_class_for(SimpleNamespace(model_type="qwen2_audio")).__name__ == name("qwen2_audio")
    with pytest.raises(ValueError, match="auto_class"):
        model_class_for(SimpleNamespace(model_type="llava"), "NoSuchModelClass")


def test_disclosure_direct_end_to_end(task_manager, tiny_llava_dir):  # noqa: F811
    import lm_eval

    out = lm_eval.simple_evaluate(model="mmpriv-hf", tasks=[TASK], task_manager=task_manager, limit=4,
                                  model_args=f"pretrained={tiny_llava_dir},batch_size=2,max_new_tokens=8",
                                  device="cuda:0", log_samples=True)  # no CUDA here: falls back to cpu
    metrics = out["results"][TASK]
    assert metrics["error_rate,none"] == 0
    assert 0 <= metrics["leak_rate,none"] <= 1
    samples = out["samples"][TASK]
    assert len(samples) == 4
    assert all(isinstance(s["resps"][0][0], str) and parse_error(s["resps"][0][0]) is None for s in samples)


def test_corrupt_image_errors_only_that_sample(task_manager, tiny_llava_dir, tmp_path, monkeypatch):  # noqa: F811
    import lm_eval

    # simple_evaluate ignores `metadata` when given a task_manager: point the data folder by env instead
    monkeypatch.setenv("MMPRIV_DATA_DIR", str(tmp_path))
    (tmp_path / "mmprivacy").mkdir()
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet").slice(0, 3)
    rows = table.to_pylist()
    rows[1]["image"] = {"bytes": rows[1]["image"]["bytes"][:300], "path": None}  # header ok, pixels cut
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp_path / "mmprivacy" / "disclosure.parquet")
    out = lm_eval.simple_evaluate(model="mmpriv-hf", tasks=[TASK], task_manager=task_manager,
                                  model_args=f"pretrained={tiny_llava_dir},batch_size=3,max_new_tokens=6",
                                  log_samples=False)  # lm-eval's sample logging re-reads the broken image
    metrics = out["results"][TASK]
    assert out["n-samples"][TASK]["effective"] == 3
    assert metrics["error_rate,none"] == pytest.approx(1 / 3)
    assert 0 <= metrics["leak_rate,none"] <= 1  # the two good samples were scored


def test_generate_until_mixed_batch(llava):
    requests = [
        request("What is in the picture? <image>", {"visual": [_image("white")]}, doc_id=0),
        request("A text-only question.", {"visual": []}, doc_id=1),
        request("Broken", {"visual": [{"bytes": b"not an image", "path": None}]}, doc_id=2),
        request("Truncated", {"visual": [Image.open(__import__("io").BytesIO(encode_png(
            Image.new("RGB", (64, 64), "red"))[:60]))]}, doc_id=5),  # header decodes, pixels do not
        request("Two images", {"visual": [_image("red"), _image("blue", (30, 60))]}, doc_id=3),
        request("Another image", {"visual": [_image("green")]}, doc_id=4),
    ]
    replies = llava.generate_until(requests)
    assert len(replies) == 6
    assert "unit/2" in parse_error(replies[2]) and "cannot decode image" in parse_error(replies[2])
    assert "unit/5" in parse_error(replies[3])
    assert all(isinstance(r, str) and r and parse_error(r) is None for i, r in enumerate(replies) if i not in (2, 3))


def test_batching_matches_one_by_one(llava, tiny_llava_dir):  # noqa: F811
    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    prompts = ["Short.", "A much longer question about the form shown here, please answer it.", "Mid length one"]
    make = lambda: [request(p, {"visual": [_image("white")]}, doc_id=i) for i, p in enumerate(prompts)]  # noqa: E731
    single = HFMultimodalChatLM(pretrained=str(tiny_llava_dir), device="cpu", batch_size=1)
    assert llava.generate_until(make()) == single.generate_until(make())


def test_until_cuts_the_reply(llava):
    full = llava.generate_until([request("Say something.", {"visual": []})])[0]
    stop = full[len(full) // 2:len(full) // 2 + 2]
    assert stop.strip(), full
    cut = llava.generate_until([request("Say something.", {"visual": []}, {**GEN, "until": [stop]})])[0]
    assert cut == full.split(stop, 1)[0]


def test_audio_requests(tiny_qwen2_audio_dir, tmp_path):  # noqa: F811
    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    lm = HFMultimodalChatLM(pretrained=str(tiny_qwen2_audio_dir), device="cpu", batch_size=2)
    assert lm.sampling_rate == 16_000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)).astype("float32")
    wav = encode_wav(tone)
    path = tmp_path / "tone.wav"
    path.write_bytes(wav)
    replies = lm.generate_until([
        request("What do you hear?", {"audio": [{"bytes": wav, "path": None}]}, doc_id=0),
        request("What do you hear?", {"audio": [str(path)]}, doc_id=1),
        request("And now?", {"audio": [{"array": tone[::2], "sampling_rate": 8_000}]}, doc_id=2),
        request("Broken clip", {"audio": [{"bytes": b"RIFF....", "path": None}]}, doc_id=3),
        request("No audio at all.", {}, doc_id=4),
    ])
    assert "cannot decode audio" in parse_error(replies[3])
    assert all(parse_error(r) is None and isinstance(r, str) for i, r in enumerate(replies) if i != 3)
    assert replies[0] == replies[1]  # same clip given as bytes and as a path


def test_adapter_loading(tiny_llava_dir, tmp_path):  # noqa: F811
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    torch.manual_seed(0)
    base = AutoModelForImageTextToText.from_pretrained(str(tiny_llava_dir))
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "lm_head"],
                                                 init_lora_weights=False))  # random, not a no-op
    peft_model.save_pretrained(tmp_path / "adapter")
    prompt = [request("Hello there, who are you?", {"visual": []})]
    plain = HFMultimodalChatLM(pretrained=str(tiny_llava_dir), device="cpu").generate_until(prompt)
    adapted_lm = HFMultimodalChatLM(pretrained=str(tiny_llava_dir), device="cpu", adapter=str(tmp_path / "adapter"))
    adapted = adapted_lm.generate_until(prompt)
    assert parse_error(adapted[0]) is None and adapted != plain
    unmerged = HFMultimodalChatLM(pretrained=str(tiny_llava_dir), device="cpu", adapter=str(tmp_path / "adapter"),
                                  merge_adapter="false")
    assert unmerged.generate_until(prompt) == adapted


def test_cuda_request_falls_back_to_cpu(llava, tiny_llava_dir, caplog):  # noqa: F811
    import torch

    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with caplog.at_level(logging.WARNING, logger="mmpriv_tasks"):
        lm = HFMultimodalChatLM(pretrained=str(tiny_llava_dir), device="cuda:0", batch_size="auto")
    assert lm.device.type == "cpu" and "CUDA is not available" in caplog.text
    assert (lm.rank, lm.world_size, lm.batch_size) == (0, 1, 1)


@pytest.mark.slow
def test_data_parallel_two_processes(tiny_llava_dir, tmp_path):  # noqa: F811
    """torchrun with 2 CPU processes: each rank takes its shard, rank 0 writes all samples."""
    import json

    from conftest import run_cli, venv_bin

    out = tmp_path / "out"
    proc = run_cli(venv_bin("torchrun"), "--nproc_per_node", "2", "-m", "mmpriv_tasks.commands.cli", "run", "--model",
                   "mmpriv-hf", "--model_args", f"pretrained={tiny_llava_dir},max_new_tokens=6", "--tasks", TASK,
                   "--limit", "6", "--batch_size", "2", "--log_samples", "--output_path", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on rank 1" in proc.stderr + proc.stdout
    samples = list(out.rglob(f"samples_{TASK}_*.jsonl"))
    assert len(samples) == 1
    rows = [json.loads(line) for line in samples[0].read_text().splitlines()]
    assert sorted(r["doc_id"] for r in rows) == list(range(6)) and all(r["error_rate"] == 0 for r in rows)


def test_a_tasks_chat_turns_become_the_models_turns(tiny_qwen2_audio_dir):  # noqa: F811
    """The HearSay system-turn blind variants send a JSON chat history: its system turn is the model's."""
    import json

    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    lm = HFMultimodalChatLM(pretrained=str(tiny_qwen2_audio_dir), device="cpu", system_prompt="Be brief.")
    history = json.dumps([{"role": "system", "content": "Profile the voice.\n\nLabel: X"},
                          {"role": "user", "content": "Please analyze the audio."}], sort_keys=True)
    expected = lm.processor.apply_chat_template(
        [{"role": "system", "content": "Profile the voice.\n\nLabel: X"},
         {"role": "user", "content": [{"type": "text", "text": "Please analyze the audio."}]}],
        tokenize=False, add_generation_prompt=True)
    assert lm._prepare("s", history, {})["prompt"] == expected and "Be brief." not in expected
    plain = lm._prepare("s", "What do you hear?", {})["prompt"]
    assert "Be brief." in plain and "What do you hear?" in plain
    (reply,) = lm.generate_until([request(history, {}, doc_id=0)])
    assert parse_error(reply) is None
