"""`mmpriv memorize` (fine-tune on the memory set) and `mmpriv memorize export` (training files).

    mmpriv memorize --model PATH --out DIR [--recipe upstream|upstream-xgen|upstream-idefics2|qa]
                    [--method lora|full] [--epochs N] [--max-steps N] [--lr X] [--grad-accum N]
                    [--warmup-steps N] [--data-dir DIR] [--device cpu]
    mmpriv memorize export --format chat-jsonl|llava-json --out DIR [--recipe upstream|qa] [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import sys


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", choices=("upstream", "upstream-xgen", "upstream-idefics2", "qa"),
                        default="upstream",
                        help="upstream (default): a hybrid of the paper's two scripts; upstream-xgen / "
                             "upstream-idefics2: each script's settings; qa: a plumbing check that also trains "
                             "on the no-image retention questions (see docs/memorize.md)")
    parser.add_argument("--data-dir",
                        help="folder holding memory.parquet (default: $MMPRIV_DATA_DIR, else bundled mini)")
    parser.add_argument("--seed", type=int, default=0)


def cmd_memorize(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "export":
        return cmd_export(args)
    missing = [flag for flag, value in (("--model", args.model), ("--out", args.out)) if not value]
    if missing:
        print(f"mmpriv memorize: missing {' and '.join(missing)}", file=sys.stderr)
        return 2
    try:
        import peft  # noqa: F401
    except ImportError:
        print("mmpriv memorize needs the train extra: pip install 'mmpriv-tasks[train]'", file=sys.stderr)
        return 2
    from pathlib import Path

    from mmpriv_tasks.models.hf_multimodal import pick_device
    from mmpriv_tasks.train.examples import recipe
    from mmpriv_tasks.train.memorize import load_memory_rows, load_model, memorize

    device = str(pick_device(args.device))
    rows = load_memory_rows(args.data_dir)
    print(f"mmpriv memorize: {len(rows)} memory persons, recipe {args.recipe}, {args.method} on {device}",
          file=sys.stderr)
    model, processor = load_model(args.model, device=device, dtype=args.dtype,
                                  trust_remote_code=args.trust_remote_code,
                                  quantize_4bit=recipe(args.recipe).qlora and args.method == "lora")
    try:
        out = memorize(model, processor, rows, Path(args.out), method=args.method, recipe_name=args.recipe,
                       epochs=args.epochs, lr=args.lr, grad_accum=args.grad_accum, warmup_steps=args.warmup_steps,
                       lora_rank=args.lora_r, lora_alpha=args.lora_alpha, batch_size=args.batch_size, seed=args.seed,
                       max_steps=args.max_steps)
    except ValueError as exc:
        print(f"mmpriv memorize: {exc}", file=sys.stderr)
        return 2
    model_args = f"pretrained={args.model},adapter={out}" if args.method == "lora" else f"pretrained={out}"
    print(f"saved {out}; evaluate with: mmpriv run --model mmpriv-hf --model_args {model_args} --tasks mmpriv_retention")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mmpriv_tasks.train.memorize import export_memory, load_memory_rows

    path = export_memory(load_memory_rows(args.data_dir), Path(args.out), args.format, args.recipe, args.seed)
    print(f"wrote {path}")
    return 0


def add_memorize_command(subparsers) -> argparse.ArgumentParser:
    """Add `memorize` (and its `export` subcommand) to the `mmpriv` parser."""
    p = subparsers.add_parser("memorize", help="fine-tune a HF multimodal model on the MM-Privacy memory set "
                                               "(extra: train); `memorize export` writes training files")
    p.add_argument("--model", help="HF model folder or hub id")
    p.add_argument("--out", help="folder for the LoRA adapter (or full checkpoint)")
    p.add_argument("--method", choices=("lora", "full"), default="lora")
    p.add_argument("--epochs", type=int, help="default: the recipe's (upstream 10, qa 10)")
    p.add_argument("--lr", type=float, help="default: the recipe's (1e-4)")
    p.add_argument("--grad-accum", type=int,
                   help="micro-batches per optimizer step (default: the recipe's; upstream 16, qa 1)")
    p.add_argument("--warmup-steps", type=int, help="linear warmup steps (default: the recipe's; upstream 50, qa 0)")
    p.add_argument("--batch-size", type=int,
                   help="examples per micro-batch (default: the recipe's; 1, upstream-idefics2 2)")
    p.add_argument("--max-steps", "--max_steps", type=int, dest="max_steps",
                   help="optimizer steps, replacing the epochs (upstream's retention run loads checkpoint-250)")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=8)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    p.add_argument("--trust-remote-code", action="store_true")
    _data_args(p)
    p.set_defaults(func=cmd_memorize, action=None)
    actions = p.add_subparsers(dest="action")
    e = actions.add_parser("export", help="write the memory set as chat-jsonl or llava-json training data")
    e.add_argument("--format", choices=("chat-jsonl", "llava-json"), default="chat-jsonl")
    e.add_argument("--out", required=True, help="output folder (images/ + memory.jsonl or memory_llava.json)")
    _data_args(e)
    e.set_defaults(func=cmd_export)
    return p
