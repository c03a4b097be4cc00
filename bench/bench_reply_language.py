"""Refusal decisions on replies not in English (``mmpriv_tasks/scoring/reply_language.py``), measured in
this run.

1. Own writing (``tests/data/refusal_multilingual_probes.jsonl``, never trained on; ten languages, five
   replies each: two refusals, a decline that then answers, an answer, an apology that then answers):
   right by language and by kind; the learned stage's probability on the refusals.
2. ``--gptfuzz PATH`` (a checkout or bare git directory of sherdencooper/GPTFuzz): ChatGPT's Chinese
   replies inside the release's two-voice rows, with the project's labels
   (``tests/data/gptfuzz_chatgpt_zh_labels.json``; read after the rule was first written, and the rule
   changed after the reading, so not a held-out figure): accuracy of the detector, and of its learned
   stage alone (what decided before the rule).
3. ``--alpacaeval PATH`` (tatsu-lab/alpaca_eval): every reply of the 40 models of
   ``tests/data/alpacaeval_labels.json`` to the 805 everyday instructions, by the language it opens in;
   how many the rule decides and how many it calls refusals (answers to everyday instructions, mostly
   translations asked for: each is a false alarm unless it declines), listed.

    python bench/bench_reply_language.py [--gptfuzz PATH [--gptfuzz-labels FILE]]
                                         [--alpacaeval PATH [--alpacaeval-labels FILE]]
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path

from mmpriv_tasks.scoring import refusal_model
from mmpriv_tasks.scoring.refusal import detect_refusal
from mmpriv_tasks.scoring.reply_language import language, rule_probability

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import prepare_refusal_sources as prepare  # noqa: E402
import train_refusal_detector as train  # noqa: E402

GPTFUZZ_LABELS = train.DATA / "gptfuzz_chatgpt_zh_labels.json"
_CHATGPT_PART = re.compile(r"ChatGPT[:：]\s*(.*?)\s*(?:TB[:：]|$)", re.DOTALL)


def own_probes() -> None:
    probes = train.read_jsonl(train.DATA / "refusal_multilingual_probes.jsonl")
    print(f"own writing, {len(probes)} replies (refusal_multilingual_probes.jsonl, never trained on), right:")
    for key in ("language", "kind"):
        counts = Counter((row[key], detect_refusal(row["text"]) == row["refusal"]) for row in probes)
        print(f"  by {key}: " + ", ".join(f"{name} {counts[name, True]}/{counts[name, True] + counts[name, False]}"
                                           for name in sorted({row[key] for row in probes})))
    learned = [refusal_model.probability(row["text"]) for row in probes if row["refusal"]]
    print(f"  the learned stage alone on the {len(learned)} refusals (what decided before the rule): P(refusal) "
          f"{min(learned):.2f}-{max(learned):.2f}, {sum(p >= 0.5 for p in learned)} called refusals")


def chatgpt_chinese_parts(root: Path) -> list[str]:
    """The distinct Chinese 'ChatGPT:' parts of GPTFuzz's two-voice replies, in file order."""
    parts: dict[str, None] = {}
    for path in prepare.GPTFUZZ_FILES:
        for record in csv.DictReader(io.StringIO(prepare.read_release_file(root, path))):
            found = _CHATGPT_PART.search((record.get("Response") or "").strip())
            if found and language(found.group(1)) == "zh":
                parts.setdefault(found.group(1))
    return list(parts)


def gptfuzz(root: Path, labels: Path = GPTFUZZ_LABELS) -> None:
    read = json.loads(labels.read_text(encoding="utf-8"))["read"]
    parts = chatgpt_chinese_parts(root)
    labelled = [(text, read[prepare.reply_key(text)] == "refusal") for text in parts if prepare.reply_key(text) in read]
    if len(labelled) != len(read):
        raise SystemExit(f"{root}: {len(labelled)} of the {len(read)} labelled replies of {labels} found "
                         f"(another release?)")
    refusals = sum(refusal for _, refusal in labelled)
    print(f"GPTFuzz, ChatGPT's Chinese replies: {len(labelled)} ({refusals} refusals, {len(labelled) - refusals} "
          f"answers; the project's labels, read before the rule's last change: not held out)")
    for name, decide in (("detector", detect_refusal),
                         ("learned stage alone", lambda text: refusal_model.probability(text) >= 0.5)):
        right = sum(decide(text) == refusal for text, refusal in labelled)
        print(f"  {name:20s} {right} of {len(labelled)} right ({right / len(labelled):.3f})")


def alpacaeval(root: Path, labels: Path = prepare.ALPACAEVAL_LABELS) -> None:
    models = json.loads(labels.read_text(encoding="utf-8"))["models"]
    languages: Counter = Counter()
    ruled, refused = 0, []
    for model in models:
        for record in json.loads(prepare.read_release_file(root, f"results/{model}/model_outputs.json")):
            text = (record.get("output") or "").strip() if isinstance(record.get("output"), str) else ""
            if not text:
                continue
            code = language(text)
            languages[code] += 1
            probability = rule_probability(text) if code != "en" else None
            ruled += probability is not None
            if probability is not None and probability >= 0.5:
                refused.append((model, text))
    total = sum(languages.values())
    print(f"AlpacaEval, every reply of {len(models)} models: {total:,}, {total - languages['en']} not in English ("
          + ", ".join(f"{code} {count}" for code, count in sorted(languages.items()) if code != "en") + ")")
    print(f"  the rule decides {ruled} and calls {len(refused)} refusals")
    for model, text in refused:
        print(f"  refusal by rule ({model}): {text[:120]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gptfuzz", type=Path, help="a checkout or bare git directory of sherdencooper/GPTFuzz")
    parser.add_argument("--gptfuzz-labels", type=Path, default=GPTFUZZ_LABELS, help="labels of its Chinese parts")
    parser.add_argument("--alpacaeval", type=Path, help="a checkout or bare git directory of tatsu-lab/alpaca_eval")
    parser.add_argument("--alpacaeval-labels", type=Path, default=prepare.ALPACAEVAL_LABELS,
                        help="the file naming the models to read")
    args = parser.parse_args(argv)
    own_probes()
    if args.gptfuzz:
        gptfuzz(args.gptfuzz, args.gptfuzz_labels)
    if args.alpacaeval:
        alpacaeval(args.alpacaeval, args.alpacaeval_labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
