"""`mmpriv memorize`: fine-tune a HF multimodal chat model on the MM-Privacy memory set.

LoRA (peft) by default, full fine-tuning as an option. Saves an adapter (or a full checkpoint)
that ``mmpriv-hf`` loads (``adapter=`` / ``pretrained=``), plus ``memorize.json`` describing the run.
The recipe (``train.examples.RECIPES``; ``upstream`` by default) sets the examples, the loss span and
the optimisation settings; epochs, lr, accumulation and warmup can be overridden.
"""
from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from tqdm import tqdm

from mmpriv_tasks.inputs.media import load_image
from mmpriv_tasks.train.examples import Example, build_examples, recipe

log = logging.getLogger(__name__)

METHODS = ("lora", "full")


def load_memory_rows(data_dir: str | Path | None = None) -> list[dict]:
    """The memory split's rows (bundled mini set unless ``data_dir`` / ``$MMPRIV_DATA_DIR`` says otherwise)."""
    from mmpriv_tasks.inputs.task_data import load_split

    return load_split("mmprivacy", "memory", data_dir=str(data_dir) if data_dir else None)["test"].to_list()


def takes_images(processor) -> bool:
    return getattr(processor, "image_processor", None) is not None


QLORA_ON_CPU = ("mmpriv memorize: the recipe loads the base model in 4-bit NF4 (QLoRA, finetune-idefics2.py), "
                "which needs CUDA and bitsandbytes; loading it unquantised on {device}")
FP16_ON_CPU = ("mmpriv memorize: the recipe trains in fp16 mixed precision (the scripts' fp16=True), which needs "
               "CUDA; training in the model's dtype on {device}")


def load_model(path: str, device: str = "cpu", dtype: str = "auto", trust_remote_code: bool = False,
               quantize_4bit: bool = False):
    """(model, processor) for training, loaded with the same class table as ``mmpriv-hf``;
    ``quantize_4bit``: NF4 with fp16 compute as ``finetune-idefics2.py`` (CUDA only, else a message)."""
    import transformers

    from mmpriv_tasks.models.hf_multimodal import model_class_for, torch_dtype

    config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    cls = model_class_for(config)
    if quantize_4bit and str(device).startswith("cuda"):
        import torch

        quantized = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                    bnb_4bit_compute_dtype=torch.float16)
        model = cls.from_pretrained(path, dtype=torch.float16, quantization_config=quantized,
                                    trust_remote_code=trust_remote_code, device_map={"": device})
        return model, transformers.AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    if quantize_4bit:
        log.warning(QLORA_ON_CPU.format(device=device))
    model = cls.from_pretrained(path, dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code).to(device)
    processor = transformers.AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    return model, processor


def encode(processor, example: Example, with_image: bool = True, loss_on: str = "answer") -> dict:
    """Model inputs for one example; labels cover the whole sequence (``loss_on="sequence"``, as
    upstream, the rendered turn stripped as ``finetune-idefics2.py``'s ``text.strip()``) or the answer
    only (the prompt masked out)."""
    use_image = with_image and example.image is not None
    content = ([{"type": "text", "text": example.preface}] if example.preface else []) + (
        [{"type": "image"}] if use_image else []) + [{"type": "text", "text": example.prompt}]
    user = [{"role": "user", "content": content}]
    turn = user + [{"role": "assistant", "content": [{"type": "text", "text": example.answer}]}]
    images = [load_image(example.image, example.id or "?")] if use_image else None
    full = processor.apply_chat_template(turn, tokenize=False)
    full = full.strip() if loss_on == "sequence" else full
    kwargs = {"images": images} if images else {}
    batch = processor(text=[full], return_tensors="pt", **kwargs)
    labels = batch["input_ids"].clone()
    if loss_on == "answer":
        prompt = processor.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        if not full.startswith(prompt):
            raise ValueError("the chat template renders the prompt differently inside a full conversation; "
                             "cannot mask the prompt out of the labels")
        labels[:, :processor(text=[prompt], return_tensors="pt", **kwargs)["input_ids"].shape[1]] = -100
    if "attention_mask" in batch:
        labels[batch["attention_mask"] == 0] = -100
    batch["labels"] = labels
    return dict(batch)


VISION_KEYWORDS = ("vision", "visual", "image", "mm_projector", "multi_modal_projector", "resampler", "audio")


def language_linear_modules(model) -> list[str]:
    """Full names of the linear layers of the language model: vision tower, projector (and audio
    encoder) and the output head excluded, as upstream's ``find_all_linear_names``."""
    import torch

    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not any(k in name for k in VISION_KEYWORDS)
            and not name.endswith("lm_head")]


def xgen_lora_targets(model) -> list[str]:
    """``Memory Set/finetune-xgen3.py``'s ``find_all_linear_names``: the last name part of every Linear,
    Embedding, Conv2d and Conv1D module outside names holding 'mm_projector', 'vision_tower' or
    'vision_resampler' (LayerNorm, Identity, MultiheadAttention and Sequential skipped), less 'lm_head',
    'embed_tokens', 'out_proj', '0'-'3' (the script's ``remove`` raises on a name xgen-mm always has;
    absent names are skipped here). Sorted (the script returns a set's order)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    supported = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv2d, Conv1D)
    skipped = (torch.nn.LayerNorm, torch.nn.Identity, torch.nn.MultiheadAttention, torch.nn.Sequential)
    names = set()
    for name, module in model.named_modules():
        if any(key in name for key in ("mm_projector", "vision_tower", "vision_resampler")):
            continue
        if isinstance(module, skipped) or name in ("out_proj", "embed_tokens"):
            continue
        if isinstance(module, supported):
            names.add(name.split(".")[-1])
    return sorted(names - {"lm_head", "embed_tokens", "out_proj", "0", "1", "2", "3"})


# Memory Set/finetune-idefics2.py LoraConfig(target_modules=...): the text model, the connector
# (modality_projection, perceiver_resampler) and their projections
IDEFICS2_TARGETS = (".*(text_model|modality_projection|perceiver_resampler)"
                    ".*(down_proj|gate_proj|up_proj|k_proj|q_proj|v_proj|o_proj).*$")


def _lora_targets(model, targets: str):
    import re

    if targets == "language":
        return language_linear_modules(model)
    if targets == "xgen":
        return xgen_lora_targets(model)
    if targets == "idefics2":
        if not any(re.fullmatch(IDEFICS2_TARGETS, name) for name, _ in model.named_modules()):
            raise ValueError("the upstream-idefics2 recipe's LoRA target regex (finetune-idefics2.py) matches no "
                             "module of this model: it is written for Idefics2 (text_model, modality_projection, "
                             "perceiver_resampler)")
        return IDEFICS2_TARGETS
    return "all-linear"


def _with_lora(model, rank: int, alpha: int, dropout: float, targets: str):
    from peft import LoraConfig, get_peft_model

    target_modules = _lora_targets(model, targets)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        init_lora_weights="gaussian")
    return get_peft_model(model, config)


SEQUENCE_KEYS = {"input_ids": "pad", "attention_mask": 0, "labels": -100, "token_type_ids": 0,
                 "mm_token_type_ids": 0}


def _pad_to(tensor, shape: tuple, value=0):
    """``tensor`` padded at the end of each dimension after the first to ``shape``."""
    import torch

    widths = [w for size, target in zip(reversed(tensor.shape[1:]), reversed(shape)) for w in (0, target - size)]
    return torch.nn.functional.pad(tensor, widths, value=value)


def collate(items: list[dict], pad_token_id: int, label_pad: int = -100) -> dict:
    """One training batch from encoded examples (same input keys): sequences right-padded (labels
    with ``label_pad``: -100, or the image token as both scripts label padding), everything else
    (pixel values, image sizes, audio features) concatenated, zero-padded at the bottom/right where
    sizes differ (Idefics2 keeps each image's aspect ratio; its processor pads a batch that way)."""
    import torch

    if len(items) == 1:
        return items[0]
    batch = {}
    for key in items[0]:
        shape = tuple(max(sizes) for sizes in zip(*(item[key].shape[1:] for item in items)))
        fill = SEQUENCE_KEYS.get(key, 0)
        fill = pad_token_id if fill == "pad" else label_pad if fill == -100 else fill
        batch[key] = torch.cat([_pad_to(item[key], shape, fill) for item in items])
    return batch


def _batches(encoded: list[dict], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of example indices; examples with different inputs (image / text only) never mix."""
    groups: dict[tuple, list[int]] = {}
    for i, item in enumerate(encoded):
        groups.setdefault(tuple(sorted(item)), []).append(i)
    batches = []
    for members in groups.values():
        rng.shuffle(members)
        batches += [members[k:k + batch_size] for k in range(0, len(members), batch_size)]
    rng.shuffle(batches)
    return batches


def _to_model(batch: dict, model) -> dict:
    """Tensors on the model's device; floating inputs (pixels, audio features) in the model's dtype."""
    param = next(model.parameters())
    return {k: (v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device))
            for k, v in batch.items()}


def memorize(model, processor, rows: list[dict], out_dir: Path, *, method: str = "lora", recipe_name: str = "upstream",
             epochs: int | None = None, lr: float | None = None, grad_accum: int | None = None,
             warmup_steps: int | None = None, lora_rank: int = 8, lora_alpha: int = 8, batch_size: int | None = None,
             seed: int = 0, progress: bool = True, max_steps: int | None = None) -> Path:
    """Train ``model`` on the memory rows with the recipe's settings (``None`` = the recipe's value)
    and save the result to ``out_dir``; returns ``out_dir``. ``max_steps`` optimizer steps, when given,
    replace the epochs (as the HF Trainer's ``max_steps``: epochs repeat until it is reached)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    if method not in METHODS:
        raise ValueError(f"unknown method '{method}' (choose lora or full)")
    if not rows:
        raise ValueError("the memory set is empty")
    settings = recipe(recipe_name)
    epochs = settings.epochs if epochs is None else epochs
    lr = settings.lr if lr is None else lr
    grad_accum = max(1, settings.grad_accum if grad_accum is None else grad_accum)
    warmup_steps = settings.warmup_steps if warmup_steps is None else warmup_steps
    batch_size = max(1, settings.batch_size if batch_size is None else batch_size)
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    examples = build_examples(rows, recipe_name, seed)
    with_image = takes_images(processor)
    if settings.image_splitting is not None and hasattr(getattr(processor, "image_processor", None),
                                                         "do_image_splitting"):
        processor.image_processor.do_image_splitting = settings.image_splitting  # finetune-idefics2.py
    if not with_image:
        log.warning("mmpriv memorize: the processor takes no images; "
                    "training on the text of each example only")
    encoded = [encode(processor, example, with_image, settings.loss_on) for example in examples]
    if method == "lora":
        model = _with_lora(model, lora_rank, lora_alpha, settings.lora_dropout, settings.lora_targets)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=settings.weight_decay)
    rng = random.Random(seed)
    if max_steps:
        epochs = -(-int(max_steps) // -(-len(_batches(encoded, batch_size, random.Random(seed))) // grad_accum))
    plans = [_batches(encoded, batch_size, rng) for _ in range(epochs)]
    total_steps = sum(-(-len(batches) // grad_accum) for batches in plans)
    total_steps = min(total_steps, int(max_steps)) if max_steps else total_steps
    label_pad = _image_token_id(processor, model) if settings.pad_as_image else -100
    autocast = _mixed_precision(settings.fp16, next(model.parameters()).device)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, max(total_steps, 1))
    tokenizer = getattr(processor, "tokenizer", processor)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    bar = tqdm(total=epochs * len(encoded), desc="memorize", disable=not progress)
    losses: list[float] = []
    steps = 0
    for batches in plans:
        epoch_loss = 0.0
        for n, members in enumerate(batches, start=1):
            with autocast:
                loss = model(**_to_model(collate([encoded[i] for i in members], pad_id, label_pad), model)).loss
            (loss / grad_accum).backward()
            if n % grad_accum == 0 or n == len(batches):  # the last, partial accumulation still steps
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                steps += 1
            epoch_loss += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update(len(members))
            if steps == total_steps:
                break
        losses.append(epoch_loss / n)
        if steps == total_steps:
            break
    bar.close()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "memorize.json").write_text(json.dumps({
        "method": method, "recipe": recipe_name, "epochs": epochs, "lr": lr, "batch_size": batch_size,
        "grad_accum": grad_accum, "optimizer_steps": total_steps, "warmup_steps": warmup_steps,
        "weight_decay": settings.weight_decay, "loss_on": settings.loss_on, "examples": len(examples),
        "padding_label": label_pad, "fp16": settings.fp16, "qlora": settings.qlora, "max_steps": max_steps,
        "image_splitting": getattr(getattr(processor, "image_processor", None), "do_image_splitting", None),
        "memory_persons": len(rows), "seed": seed, "with_images": with_image,
        "lora": {"r": lora_rank, "alpha": lora_alpha, "dropout": settings.lora_dropout,
                 "targets": settings.lora_targets} if method == "lora" else None,
        "base_model": getattr(getattr(model, "config", None), "_name_or_path", None),
        "epoch_loss": [round(x, 4) for x in losses],
    }, indent=1))
    return out_dir


def _image_token_id(processor, model) -> int:
    """The image token's id (both scripts label padding with it)."""
    config_id = getattr(getattr(model, "config", None), "image_token_index", None) or getattr(
        getattr(model, "config", None), "image_token_id", None)
    if config_id is not None:
        return int(config_id)
    tokenizer = getattr(processor, "tokenizer", processor)
    return int(tokenizer.convert_tokens_to_ids("<image>"))


def _mixed_precision(fp16: bool, device):
    """fp16 autocast on CUDA when the recipe asks for it; otherwise no-op (with a message on CPU)."""
    import contextlib

    import torch

    if fp16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if fp16:
        log.warning(FP16_ON_CPU.format(device=device))
    return contextlib.nullcontext()


# ---- export to common fine-tuning formats ----
EXPORT_FORMATS = ("chat-jsonl", "llava-json")


def export_memory(rows: list[dict], out_dir: Path, fmt: str = "chat-jsonl", recipe_name: str = "upstream",
                  seed: int = 0) -> Path:
    """Write the memory set as training data: images as PNG files under ``images/``, referenced by
    relative path, and ``memory.jsonl`` (HF chat messages) or ``memory_llava.json`` (LLaVA conversations)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format '{fmt}' (choose from {', '.join(EXPORT_FORMATS)})")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for example in build_examples(rows, recipe_name, seed):
        image_path = None
        if example.image is not None:
            image_path = f"images/{example.id}.png"
            load_image(example.image, example.id).save(out_dir / image_path, format="PNG")
        if fmt == "chat-jsonl":
            content = ([{"type": "text", "text": example.preface}] if example.preface else []) + (
                [{"type": "image", "image": image_path}] if image_path else []) + [
                {"type": "text", "text": example.prompt}]
            records.append({"id": example.id, "messages": [
                {"role": "user", "content": content},
                {"role": "assistant", "content": [{"type": "text", "text": example.answer}]}]})
        else:
            record = {"id": example.id}
            if image_path:
                record["image"] = image_path
            record["conversations"] = [
                {"from": "human", "value": (f"{example.preface}\n" if example.preface else "")
                 + ("<image>\n" if image_path else "") + example.prompt},
                {"from": "gpt", "value": example.answer}]
            records.append(record)
    if fmt == "chat-jsonl":
        path = out_dir / "memory.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        path = out_dir / "memory_llava.json"
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1))
    return path
