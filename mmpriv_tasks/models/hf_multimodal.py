"""`mmpriv-hf`: local Hugging Face image / audio chat models as one lm-eval model.

``--model mmpriv-hf --model_args pretrained=PATH_OR_ID[,dtype=auto][,device=cuda:0][,batch_size=4]
[,max_new_tokens=N][,system_prompt=TEXT][,adapter=LORA_DIR][,auto_class=CLASS][,processor=PATH]
[,trust_remote_code=true][,prompt_in_system=true][,checkpoint_sampling=true]``

``prompt_in_system``: the prompt is the system turn and the media alone the user turn (upstream
HearSay's Qwen2.5-Omni); ``checkpoint_sampling``: where a task does not set ``do_sample`` or
``temperature``, the checkpoint's ``generation_config`` decides how to decode (upstream's
``model.generate`` calls without sampling arguments).

Each request ``(context, gen_kwargs, {"visual": [...], "audio": [...]})`` becomes one user turn whose
content holds an image part per image, an audio part per clip and the text, rendered with the
processor's own chat template; generation is greedy unless the task asks otherwise, and only the
new tokens are decoded and cut at the task's ``until`` strings. A sample whose media cannot be
decoded, or whose generation fails, gets ``errors.format_error(...)`` instead of text.

Data parallel: under ``accelerate launch`` (WORLD_SIZE > 1) each process loads the model on its own
device and exposes ``rank`` / ``world_size``; lm-eval then hands every process its shard of the
requests and gathers the per-sample results on rank 0. See docs/hf.md.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from lm_eval.api.model import LM
from lm_eval.models.utils import Collator, handle_stop_sequences
from tqdm import tqdm

from mmpriv_tasks.api.payload import chat_turns
from mmpriv_tasks.errors import InputError, MediaError, format_error
from mmpriv_tasks.inputs.media import DEFAULT_SAMPLE_RATE, drop_placeholders, load_audio, load_image
from mmpriv_tasks.models._args import MergedArgs, as_bool
from mmpriv_tasks.models._request import share_repeated, unpack

log = logging.getLogger(__name__)

# config.model_type -> the transformers class that generates text from text + media.
# Anything else falls back to AutoModelForImageTextToText (when it knows the type), then
# AutoModelForCausalLM. `auto_class=` overrides the choice.
MODEL_CLASSES = {
    "qwen2_audio": "Qwen2AudioForConditionalGeneration",
    "qwen2_5_omni": "Qwen2_5OmniThinkerForConditionalGeneration",  # the text-generating "thinker" only
    "qwen2_5_omni_thinker": "Qwen2_5OmniThinkerForConditionalGeneration",
    "qwen3_omni_moe": "Qwen3OmniMoeThinkerForConditionalGeneration",
    "qwen3_omni_moe_thinker": "Qwen3OmniMoeThinkerForConditionalGeneration",
    "phi4_multimodal": "Phi4MultimodalForCausalLM",
    "gemma3": "Gemma3ForConditionalGeneration",
    "gemma3n": "Gemma3nForConditionalGeneration",
    "voxtral": "VoxtralForConditionalGeneration",
    "granite_speech": "GraniteSpeechForConditionalGeneration",
    "audioflamingo3": "AudioFlamingo3ForConditionalGeneration",
    "llava": "AutoModelForImageTextToText",
    "llava_next": "AutoModelForImageTextToText",
    "llava_onevision": "AutoModelForImageTextToText",
    "qwen2_vl": "AutoModelForImageTextToText",
    "qwen2_5_vl": "AutoModelForImageTextToText",
    "qwen3_vl": "AutoModelForImageTextToText",
    "idefics3": "AutoModelForImageTextToText",
    "smolvlm": "AutoModelForImageTextToText",
    "mllama": "AutoModelForImageTextToText",
    "internvl": "AutoModelForImageTextToText",
}
DTYPES = {"float16": "float16", "fp16": "float16", "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float32": "float32", "fp32": "float32", "float": "float32"}


def torch_dtype(name: str):
    """``"auto"`` or the torch dtype named by ``name`` (aliases in DTYPES: bf16, fp16, half...)."""
    import torch

    return "auto" if str(name) == "auto" else getattr(torch, DTYPES.get(str(name), str(name)))


def pick_device(device: str | None):
    """The torch device to use: ``device``, or cuda:0 when available; cpu (with a warning) when the
    requested CUDA/MPS device is not available."""
    import torch

    if device in (None, "", "auto"):
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        log.warning("mmpriv: device %s requested but CUDA is not available; using cpu", device)
        device = "cpu"
    if device.startswith("mps") and not torch.backends.mps.is_available():
        log.warning("mmpriv: device %s requested but MPS is not available; using cpu", device)
        device = "cpu"
    return torch.device(device)


def model_class_name(config, auto_class: str | None = None) -> str:
    """The name of the transformers class that loads ``config``'s model (see MODEL_CLASSES)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    name = auto_class or MODEL_CLASSES.get(config.model_type)
    if name is None:
        name = ("AutoModelForImageTextToText" if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
                else "AutoModelForCausalLM")
    return name


def model_class_for(config, auto_class: str | None = None):
    """The transformers class that loads ``config``'s model for generation (see MODEL_CLASSES)."""
    import transformers

    name = model_class_name(config, auto_class)
    cls = getattr(transformers, name, None)
    if cls is None:
        raise ValueError(f"transformers {transformers.__version__} has no class '{name}' "
                         f"(model_type '{config.model_type}'); pass auto_class=<a transformers class name>")
    return cls


class HFMultimodalChatLM(MergedArgs, LM):
    """lm-eval ``generate_until`` over a local HF chat model taking images and/or audio."""

    MULTIMODAL = True
    name = "mmpriv-hf"
    EXAMPLE_ARGS = "pretrained=Qwen/Qwen2-VL-2B-Instruct (a hub name or a local folder)"

    def __init__(self, pretrained: str, dtype: str = "auto", device: str | None = None,
                 trust_remote_code: bool | str = False, max_new_tokens: int | None = None,
                 batch_size: int | str = 1, adapter: str | None = None, auto_class: str | None = None,
                 processor: str | None = None, merge_adapter: bool | str = True, revision: str | None = None,
                 max_batch_size: Any = None, system_prompt: str | None = None, prompt_in_system: bool | str = False,
                 checkpoint_sampling: bool | str = False, **kwargs: Any) -> None:
        super().__init__()
        import torch
        import transformers

        if kwargs:
            log.debug("mmpriv-hf: ignoring model args %s", sorted(kwargs))
        self.pretrained = str(pretrained)
        trust = as_bool(trust_remote_code)
        self.accelerator = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # `accelerate launch` / torchrun: data parallel
            from accelerate import Accelerator

            use_cpu = str(device or "").startswith("cpu") or not torch.cuda.is_available()
            accelerator = Accelerator(cpu=use_cpu)  # cpu=True: gloo process group (CPU-only data parallel)
            if accelerator.num_processes > 1:
                self.accelerator = accelerator
                self._rank = accelerator.process_index
                self._world_size = accelerator.num_processes
                log.info("mmpriv-hf: data parallel, process %d of %d", self._rank, self._world_size)
        self._device = self._pick_device(device)
        batch = str(batch_size).split(":")[0]
        self.batch_size = 1 if batch in ("", "auto", "None") else max(1, int(batch))
        self.max_new_tokens = None if max_new_tokens in (None, "") else int(max_new_tokens)
        self.system_prompt = system_prompt or None
        self.prompt_in_system, self.checkpoint_sampling = as_bool(prompt_in_system), as_bool(checkpoint_sampling)

        hub = {"trust_remote_code": trust, **({"revision": str(revision)} if revision else {})}
        try:
            config = transformers.AutoConfig.from_pretrained(self.pretrained, **hub)
        except OSError as exc:  # not a folder, not in the HF cache, no network (offline)
            offline = " (HF_HUB_OFFLINE is set)" if as_bool(os.environ.get("HF_HUB_OFFLINE", "")) else ""
            raise InputError(f"mmpriv-hf: cannot load pretrained={self.pretrained}{offline}: "
                             f"{' '.join(str(exc).split())[:160]}. Pass a local model folder, or download it "
                             f"first (`hf download {self.pretrained}`, online)") from exc
        self.model_type = config.model_type
        cls = model_class_for(config, auto_class)
        log.info("mmpriv-hf: loading %s with %s on %s (batch size %d)", self.pretrained, cls.__name__, self._device,
                 self.batch_size)
        model = cls.from_pretrained(self.pretrained, dtype=torch_dtype(dtype), **hub)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
            if as_bool(merge_adapter):
                model = model.merge_and_unload()
            log.info("mmpriv-hf: loaded adapter %s", adapter)
        self.model = model.to(self._device).eval()
        self.processor = transformers.AutoProcessor.from_pretrained(
            processor or self.pretrained, **(hub if not processor else {"trust_remote_code": trust}))
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        extractor = getattr(self.processor, "feature_extractor", None)
        self.sampling_rate = int(getattr(extractor, "sampling_rate", None) or DEFAULT_SAMPLE_RATE)

    # ---- device and data-parallel plumbing (mirrors lm-eval's HFLM) ----
    def _pick_device(self, device: str | None):
        return self.accelerator.device if self.accelerator is not None else pick_device(device)

    def all_gather(self, tensor):
        return tensor if self.world_size <= 1 else self.accelerator.gather(tensor)

    def gather_object(self, obj, dst=0):
        if self.world_size <= 1:
            return [obj]
        import torch.distributed as dist

        result = [None] * self.world_size if self.rank == dst else None
        dist.gather_object(obj=obj, object_gather_list=result, dst=dst)
        return result

    def barrier(self) -> None:
        if self.world_size > 1:
            self.accelerator.wait_for_everyone()

    @property
    def tokenizer_name(self) -> str:
        return self.pretrained.replace("/", "__")

    # ---- request handling ----
    def _prepare(self, sample: str, context: str, media: dict) -> dict:
        """Decoded media and the rendered prompt for one request (raises on bad media)."""
        images = [load_image(value, sample) for value in (media.get("visual") or [])]
        audios = [load_audio(value, sample, self.sampling_rate) for value in (media.get("audio") or [])]
        history = chat_turns(context)  # a task may send turns
        text = drop_placeholders(history[-1]["content"])
        content = ([{"type": "image"} for _ in images] + [{"type": "audio"} for _ in audios]
                   + ([] if self.prompt_in_system else [{"type": "text", "text": text}]))
        turns = [{"role": "system", "content": text}] if self.prompt_in_system else history[:-1]
        if self.system_prompt and not (turns and turns[0]["role"] == "system"):
            turns = [{"role": "system", "content": self.system_prompt}] + turns
        prompt = self.processor.apply_chat_template(turns + [{"role": "user", "content": content}], tokenize=False,
                                                    add_generation_prompt=True)
        return {"prompt": prompt, "images": images, "audios": audios}

    def _encode(self, items: list[dict]):
        kwargs: dict[str, Any] = {"text": [item["prompt"] for item in items], "return_tensors": "pt",
                                  "padding": True}
        if any(item["images"] for item in items):
            kwargs["images"] = [item["images"] for item in items] if len(items) > 1 else items[0]["images"]
        audios = [clip for item in items for clip in item["audios"]]
        if audios:
            kwargs["audio"] = audios
            kwargs["sampling_rate"] = self.sampling_rate
        inputs = self.processor(**kwargs)
        return inputs.to(self._device)

    def _generate(self, items: list[dict], gen_kwargs: dict) -> list[str]:
        import torch

        gen_kwargs = dict(gen_kwargs)
        until = handle_stop_sequences(gen_kwargs.pop("until", None), eos=None)
        task_max = gen_kwargs.pop("max_gen_toks", None)
        max_new = self.max_new_tokens or int(task_max or 150)
        by_checkpoint = self.checkpoint_sampling and not {"do_sample", "temperature"} & set(gen_kwargs)
        do_sample = bool(gen_kwargs.pop("do_sample", False))
        temperature = float(gen_kwargs.pop("temperature", 0.0) or 0.0)
        if temperature == 0.0:
            do_sample = False
        options = {"max_new_tokens": max_new, "do_sample": do_sample,
                   "pad_token_id": self.tokenizer.pad_token_id}
        if do_sample:
            options["temperature"] = temperature
            options.update({k: v for k, v in gen_kwargs.items() if k in ("top_p", "top_k")})
        else:  # greedy: neutralise sampling settings a model's generation_config may carry
            options.update({"temperature": None, "top_p": None, "top_k": None})
        if by_checkpoint:  # the task leaves sampling to the model: its generation_config decides
            options = {"max_new_tokens": max_new, "pad_token_id": self.tokenizer.pad_token_id}
        inputs = self._encode(items)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **options)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        replies = []
        for text in texts:
            for stop in until:
                if stop and stop in text:
                    text = text.split(stop, 1)[0]
            replies.append(text)
        return replies

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        share_repeated(requests)
        replies: list[str | None] = [None] * len(requests)
        prepared: dict[int, dict] = {}
        for i, raw in enumerate(requests):
            request = unpack(raw, i)
            try:
                if request.failure:
                    raise MediaError(request.failure)
                prepared[i] = {**self._prepare(request.sample, request.context, request.media),
                               "gen_kwargs": request.gen_kwargs}
            except Exception as exc:  # noqa: BLE001 - a broken sample must not end the run
                replies[i] = format_error(type(exc).__name__, str(exc))
        # lm-eval's Collator: batches of one generation setting and one media count, longest prompts first
        collator = Collator([(i, item) for i, item in prepared.items()],
                            sort_fn=lambda pair: -len(pair[1]["prompt"]), group_by="gen_kwargs",
                            group_fn=lambda pair: {**pair[1]["gen_kwargs"],
                                                   "_media": (len(pair[1]["images"]), len(pair[1]["audios"]))})
        bar = tqdm(total=len(requests), desc="mmpriv-hf", disable=disable_tqdm or self.rank != 0)
        bar.update(len(requests) - len(prepared))
        for batch in collator.get_batched(n=self.batch_size):
            for (i, _), reply in zip(batch, self._run_batch([item for _, item in batch])):
                replies[i] = reply
                self.cache_hook.add_partial("generate_until", requests[i].args, reply)
            bar.update(len(batch))
        bar.close()
        return replies  # type: ignore[return-value]

    def _run_batch(self, items: list[dict]) -> list[str]:
        """Replies for one batch; on failure, item by item so only the failing sample errors."""
        try:
            return self._generate(items, items[0]["gen_kwargs"])
        except Exception as exc:  # noqa: BLE001
            if len(items) == 1:
                log.warning("mmpriv-hf: generation failed: %s", exc)
                return [format_error("generation", f"{type(exc).__name__}: {exc}")]
        return [self._run_batch([item])[0] for item in items]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("mmpriv-hf only generates text (generate_until tasks)")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("mmpriv-hf only generates text (generate_until tasks)")
