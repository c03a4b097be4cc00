"""`mmpriv memorize`: fine-tune a HF multimodal chat model on the MM-Privacy memory set.

LoRA (peft) by default, full fine-tuning as an option. Saves an adapter (or a full checkpoint)
that ``mmpriv-hf`` loads (``adapter=`` / ``pretrained=``), plus ``memorize.json`` describing the run.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from tqdm import tqdm

from mmpriv_tasks.media import load_image
from mmpriv_tasks.train.examples import Example, build_examples

log = logging.getLogger("mmpriv")


def encode(processor, example: Example) -> dict:
    """Model inputs for one example, with the prompt (and padding) masked out of the labels."""
    content = ([{"type": "image"}] if example.image is not None else []) + [{"type": "text", "text": example.prompt}]
    user = [{"role": "user", "content": content}]
    turn = user + [{"role": "assistant", "content": [{"type": "text", "text": example.answer}]}]
    images = [load_image(example.image)] if example.image is not None else None
    prompt = processor.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = processor.apply_chat_template(turn, tokenize=False)
    batch = processor(text=[full], images=images, return_tensors="pt")
    prompt_len = processor(text=[prompt], images=images, return_tensors="pt")["input_ids"].shape[1]
    labels = batch["input_ids"].clone()
    labels[:, :prompt_len] = -100
    batch["labels"] = labels
    return dict(batch)


def _with_lora(model, rank: int, alpha: int):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear",
                        init_lora_weights="gaussian")
    return get_peft_model(model, config)


def memorize(model, processor, rows: list[dict], out_dir: Path, *, method: str = "lora", recipe: str = "upstream",
             epochs: int = 10, lr: float = 1e-4, lora_rank: int = 8, lora_alpha: int = 8, seed: int = 0,
             progress: bool = True) -> Path:
    """Train ``model`` on the memory rows and save the result to ``out_dir``; returns ``out_dir``."""
    import torch

    if method not in ("lora", "full"):
        raise ValueError(f"unknown method '{method}' (choose lora or full)")
    torch.manual_seed(seed)
    examples = build_examples(rows, recipe, seed)
    encoded = [encode(processor, example) for example in examples]
    if method == "lora":
        model = _with_lora(model, lora_rank, lora_alpha)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    device = next(model.parameters()).device
    bar = tqdm(total=epochs * len(encoded), desc="memorize", disable=not progress)
    for _epoch in range(epochs):
        for batch in encoded:
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update()
    bar.close()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    if method == "full":
        processor.save_pretrained(out_dir)
    (out_dir / "memorize.json").write_text(json.dumps({
        "method": method, "recipe": recipe, "epochs": epochs, "lr": lr, "examples": len(examples),
        "memory_persons": len(rows), "seed": seed,
    }, indent=1))
    return out_dir
