"""`--recipe upstream-xgen` / `upstream-idefics2`: settings asserted against the scripts' values
(tests/fixtures/mmprivacy_upstream/recipes.json), LoRA targets chosen as each script chooses them,
padding labelled as the image token, and a tiny CPU run through the CLI (fp16 / QLoRA with their message)."""
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
from tiny_models import IMAGE_TOKEN, tiny_llava_dir, one_torch_thread  # noqa: F401  (fixtures)

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


@pytest.mark.slow
def test_tiny_cpu_runs_of_both_recipes(tiny_llava_dir, tmp_path):  # noqa: F811
    data = _two_person_data(tmp_path / "data")
    base = ("memorize", "--model", str(tiny_llava_dir), "--data-dir", str(data), "--device", "cpu")
    proc = run_cli(venv_bin("mmpriv"), *base, "--recipe", "upstream-xgen", "--max_steps", "1",
                   "--out", str(tmp_path / "xgen"), cwd=tmp_path)
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
    proc = run_cli(venv_bin("mmpriv"), *base, "--recipe", "upstream-idefics2", "--out", str(tmp_path / "i2"),
                   cwd=tmp_path)
    assert "4-bit NF4 (QLoRA, finetune-idefics2.py), which needs CUDA and bitsandbytes" in proc.stderr
    assert proc.returncode == 2 and "matches no module of this model" in proc.stderr  # LLaVA is no Idefics2
    assert "Traceback" not in proc.stderr
