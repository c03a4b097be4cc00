"""`--recipe upstream-xgen` / `upstream-idefics2`: settings asserted against the scripts' values
(tests/fixtures/mmprivacy_upstream/recipes.json), LoRA targets chosen as each script chooses them,
padding labelled as the image token, and a tiny CPU run of each through the CLI (a tiny LLaVA for xgen,
a tiny Idefics2 for idefics2; fp16 / QLoRA with their message)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from mmpriv_tasks.train.examples import RECIPES
from mmpriv_tasks.train.memorize import IDEFICS2_TARGETS, _lora_targets, collate, xgen_lora_targets

from conftest import run_cli, venv_bin
from test_memorize import _two_person_data
from tiny_models import IMAGE_TOKEN, tiny_idefics2_dir, tiny_llava_dir, one_torch_thread  # noqa: F401  (fixtures)

UPSTREAM = json.loads((Path(__file__).parent / "fixtures/mmprivacy_upstream/recipes.json").read_text())
XGEN_ON_TINY_LLAVA = ["down_proj", "gate_proj", "k_proj", "linear_1", "linear_2", "o_proj", "q_proj", "up_proj",
                      "v_proj"]  # multi_modal_projector's linear_1/2 are kept: the script excludes only 'mm_projector'


@pytest.mark.parametrize("name", ["upstream-xgen", "upstream-idefics2"])
def test_recipe_settings_are_the_scripts(name):
    script, ours = UPSTREAM[name], RECIPES[name]
    assert (ours.epochs, ours.batch_size, ours.grad_accum, ours.warmup_steps, ours.lr, ours.weight_decay,
            ours.fp16, ours.lora_dropout) == (
        script["num_train_epochs"], script["per_device_train_batch_size"], script["gradient_accumulation_steps"],
        script["warmup_steps"], script["learning_rate"], script["weight_decay"], script["fp16"],
        script["lora"]["lora_dropout"])
    assert ours.qlora is (script["quantization"] is not None) and ours.pad_as_image and ours.loss_on == "sequence"


def test_idefics2_regex_is_the_scripts_and_takes_the_connector():
    assert IDEFICS2_TARGETS == UPSTREAM["upstream-idefics2"]["lora"]["target_modules"]
    names = ["model.text_model.layers.0.self_attn.q_proj", "model.connector.modality_projection.down_proj",
             "model.connector.perceiver_resampler.layers.0.self_attn.k_proj", "model.vision_model.encoder.q_proj",
             "lm_head"]
    assert [n for n in names if re.fullmatch(IDEFICS2_TARGETS, n)] == names[:3]


def test_xgen_targets_as_find_all_linear_names(tiny_llava_dir):  # noqa: F811
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(tiny_llava_dir)
    assert xgen_lora_targets(model) == XGEN_ON_TINY_LLAVA
    with pytest.raises(ValueError, match="upstream-idefics2 recipe's LoRA target regex .* matches no module"):
        _lora_targets(model, "idefics2")


def test_padding_is_labelled_as_the_image_token():
    short = {"input_ids": torch.tensor([[5, 6]]), "attention_mask": torch.tensor([[1, 1]]),
             "labels": torch.tensor([[5, 6]])}
    long = {"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.tensor([[1, 1, 1]]),
            "labels": torch.tensor([[5, 6, 7]])}
    batch = collate([short, long], pad_token_id=0, label_pad=99)
    assert batch["labels"].tolist() == [[5, 6, 99], [5, 6, 7]] and batch["input_ids"].tolist() == [[5, 6, 0],
                                                                                                    [5, 6, 7]]
    assert collate([short, long], pad_token_id=0)["labels"].tolist()[0] == [5, 6, -100]


def test_images_of_different_sizes_are_padded_bottom_right():
    """Idefics2 keeps each image's aspect ratio: a batch pads pixels and their mask with zeros, as its processor."""
    def item(height, width, value):
        return {"input_ids": torch.tensor([[5]]), "pixel_values": torch.full((1, 1, 1, height, width), value),
                "pixel_attention_mask": torch.ones((1, 1, height, width), dtype=torch.long)}

    batch = collate([item(1, 2, 7.0), item(2, 1, 9.0)], pad_token_id=0)
    assert batch["pixel_values"][:, 0, 0].tolist() == [[[7.0, 7.0], [0.0, 0.0]], [[9.0, 0.0], [9.0, 0.0]]]
    assert batch["pixel_attention_mask"][:, 0].tolist() == [[[1, 1], [0, 0]], [[1, 0], [1, 0]]]


def _memorize(model_dir, data, out, recipe, *extra):
    return run_cli(venv_bin("mmpriv"), "memorize", "--model", str(model_dir), "--data-dir", str(data), "--device",
                   "cpu", "--recipe", recipe, "--out", str(out), *extra, cwd=out.parent)


@pytest.mark.slow
def test_tiny_cpu_run_of_upstream_xgen(tiny_llava_dir, tmp_path):  # noqa: F811
    data = _two_person_data(tmp_path / "data")
    proc = _memorize(tiny_llava_dir, data, tmp_path / "xgen", "upstream-xgen", "--max_steps", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fp16 mixed precision (the scripts' fp16=True), which needs CUDA" in proc.stderr
    info = json.loads((tmp_path / "xgen" / "memorize.json").read_text())
    assert (info["recipe"], info["batch_size"], info["grad_accum"], info["optimizer_steps"], info["max_steps"],
            info["fp16"]) == ("upstream-xgen", 1, 16, 1, 1, True)
    from transformers import AutoTokenizer

    image_id = AutoTokenizer.from_pretrained(tiny_llava_dir).convert_tokens_to_ids(IMAGE_TOKEN)
    assert info["padding_label"] == image_id
    adapter = json.loads((tmp_path / "xgen" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == XGEN_ON_TINY_LLAVA
    proc = _memorize(tiny_llava_dir, data, tmp_path / "i2", "upstream-idefics2")
    assert "4-bit NF4 (QLoRA, finetune-idefics2.py), which needs CUDA and bitsandbytes" in proc.stderr
    assert proc.returncode == 2 and "matches no module of this model" in proc.stderr  # LLaVA is no Idefics2
    assert "Traceback" not in proc.stderr


LAYER_PROJECTIONS = ("mlp.down_proj", "mlp.gate_proj", "mlp.up_proj", "self_attn.k_proj", "self_attn.o_proj",
                     "self_attn.q_proj", "self_attn.v_proj")
# the script's regex on the tiny Idefics2: text model and connector (projection, resampler), no vision tower
IDEFICS2_ADAPTED = [f"connector.modality_projection.{name}" for name in ("down_proj", "gate_proj", "up_proj")] + [
    f"{part}.layers.N.{name}" for part in ("connector.perceiver_resampler", "text_model") for name in LAYER_PROJECTIONS]


@pytest.mark.slow
def test_tiny_cpu_run_of_upstream_idefics2(tiny_idefics2_dir, tmp_path):  # noqa: F811
    """A tiny random Idefics2 (built from config, no download) through the whole recipe on CPU: QLoRA and
    fp16 replaced with their messages, 2 x 8 batches of two forms of different sizes, the script's LoRA
    regex (connector included), padding labelled as the image token, image splitting off; the adapter
    then runs a retention task through `mmpriv run`."""
    from safetensors import safe_open
    from transformers import AutoTokenizer

    data = _two_person_data(tmp_path / "data")
    out = tmp_path / "i2"
    proc = _memorize(tiny_idefics2_dir, data, out, "upstream-idefics2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4-bit NF4 (QLoRA, finetune-idefics2.py), which needs CUDA and bitsandbytes; loading it unquantised " \
           "on cpu" in proc.stderr
    assert "fp16 mixed precision (the scripts' fp16=True), which needs CUDA" in proc.stderr
    info = json.loads((out / "memorize.json").read_text())
    assert (info["recipe"], info["examples"], info["batch_size"], info["grad_accum"], info["epochs"],
            info["optimizer_steps"], info["qlora"], info["image_splitting"], info["loss_on"]) == (
        "upstream-idefics2", 2, 2, 8, 10, 10, True, False, "sequence")  # one 2-example batch per epoch
    assert info["padding_label"] == AutoTokenizer.from_pretrained(tiny_idefics2_dir).convert_tokens_to_ids(IMAGE_TOKEN)
    assert json.loads((tiny_idefics2_dir / "processor_config.json").read_text())["image_processor"][
        "do_image_splitting"] is True  # the recipe turned it off
    assert json.loads((out / "adapter_config.json").read_text())["target_modules"] == IDEFICS2_TARGETS
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as weights:
        modules = {key.removeprefix("base_model.model.model.").split(".lora_")[0] for key in weights.keys()}
    adapted = {re.sub(r"\.layers\.\d+\.", ".layers.N.", module) for module in modules}
    assert sorted(adapted) == IDEFICS2_ADAPTED
    results = tmp_path / "results"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-hf", "--model_args",
                   f"pretrained={tiny_idefics2_dir},adapter={out},max_new_tokens=4,device=cpu",
                   "--tasks", "mmpriv_retention_direct_distractor", "--limit", "1", "--output_path", str(results),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(next(results.rglob("results_*.json")).read_text())["results"]
    assert metrics["mmpriv_retention_direct_distractor"]["error_rate,none"] == 0
