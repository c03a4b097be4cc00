"""Image and audio content reach the model through `mmpriv-hf`: two docs with the same prompt and
different media (bundled data, lm-eval's runner, tiny random models) give different model inputs and
different next-token logits. A wrapper that dropped, blanked or reused the media would give equal ones."""
from __future__ import annotations

import pytest

from tiny_models import one_torch_thread, tiny_llava_dir, tiny_qwen2_audio_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def recorded(monkeypatch):
    """Every encoded batch the wrapper hands to ``generate``, with the model that got it."""
    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM

    batches = []
    original = HFMultimodalChatLM._encode

    def encode(self, items):
        inputs = original(self, items)
        batches.append((self.model, inputs))
        return inputs

    monkeypatch.setattr(HFMultimodalChatLM, "_encode", encode)
    return batches


def _run(task_manager, model_dir, task: str) -> dict:
    import lm_eval

    return lm_eval.simple_evaluate(model="mmpriv-hf", model_args=f"pretrained={model_dir},max_new_tokens=4",
                                   tasks=[task], task_manager=task_manager, limit=2, batch_size=1, device="cpu",
                                   log_samples=True)


def _last_logits(model, inputs):
    import torch

    with torch.inference_mode():
        return model(**inputs).logits[0, -1]


def _assert_media_reach_the_model(out, task: str, batches: list, media_key: str) -> None:
    import torch

    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    assert samples[0]["arguments"][0][0] == samples[1]["arguments"][0][0]  # same prompt text
    assert len(batches) == 2
    (model, first), (_, second) = batches
    assert not torch.equal(first[media_key], second[media_key])
    assert first[media_key].float().std() > 0 and second[media_key].float().std() > 0  # not blank
    assert not torch.allclose(_last_logits(model, first), _last_logits(model, second))


def test_two_forms_give_different_inputs_and_logits(task_manager, tiny_llava_dir, recorded):  # noqa: F811
    task = "mmpriv_disclosure_direct"  # bundled rows 0 and 1: the same question about two people's forms
    _assert_media_reach_the_model(_run(task_manager, tiny_llava_dir, task), task, recorded, "pixel_values")


def test_two_voices_give_different_inputs_and_logits(task_manager, tiny_qwen2_audio_dir, recorded):  # noqa: F811
    task = "hearsay_gender_plain"  # bundled rows 0 and 1: one voice reading two sentences
    _assert_media_reach_the_model(_run(task_manager, tiny_qwen2_audio_dir, task), task, recorded, "input_features")
