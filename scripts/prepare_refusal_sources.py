"""Prepare public sets of real model replies, with refusal labels, for the refusal detector.

Reads each source's release (a folder holding its files, or a git repository, bare or not, read at ``HEAD``;
Arena's, ``llama3_safety``'s, ``prism``'s and ``refusal_direction``'s at the commit their labels file names) and writes
``tests/data/public/<source>.jsonl`` (git-ignored: the sets are not committed; their name, commit,
licence and label mapping are in ``tests/data/README.md``), one reply per line:
``{"text", "refusal", "source", "model", "label_raw"}``. Duplicates are dropped (first label kept), and
a reply that gives an e-mail address, phone number or SSN-shaped value is dropped (no personal data in
the prepared sets; this also drops replies quoting a hotline number).

    python scripts/prepare_refusal_sources.py [--gptfuzz PATH_TO_GPTFuzz] [--rbr-gold PATH_TO_safety-rbr-code-and-data]
        [--harmbench PATH_TO_HarmBench] [--wildguardtest PATH_TO_A_COPY] [--alpacaeval PATH_TO_alpaca_eval]
        [--alpacaeval-labels tests/data/alpacaeval_labels.json] [--arena PATH_TO_arena-hard-auto]
        [--arena-labels tests/data/arena_labels.json] [--llama3-safety PATH_TO_interp-refusal-tokens]
        [--llama3-safety-labels tests/data/llama3_safety_labels.json] [--prism PATH_TO_Safe-LLaVA]
        [--prism-labels tests/data/prism_labels.json] [--refusal-direction PATH_TO_refusal_direction]
        [--refusal-direction-labels tests/data/refusal_direction_labels.json] [--out tests/data/public]

Sources:

- ``gptfuzz`` (sherdencooper/GPTFuzz, MIT): ``datasets/responses_labeled/{train,evaluate}.csv``,
  replies of Vicuna-7B, gpt-3.5-turbo and Llama-2-7B-chat to harmful questions under jailbreak
  templates, labelled by the authors (1 = jailbroken: the reply carries out the harmful request;
  0 = not). Mapping: 1 -> answer (``refusal: false``), 0 -> refusal. The model is not given per row.
  Kept: single-voice English replies the detector reads whole. Dropped: role-play replies with speaker
  tags ("[GPT]: ... [DAN]: ...", "As GPT, ... As BH, ...", Greek letters as names: "α I'm sorry ...
  Ω Sure, ...", "Σ: ..."), whose label describes a later voice or a persona,
  replies longer than ``SENT_CHARS`` (the label may rest on text past what the detector reads) and
  replies in Chinese script.
- ``rbr_gold`` (openai/safety-rbr-code-and-data, MIT): ``data/rbr_gold_data/{train,test}.jsonl``, the
  "RBR gold set" of Mu et al. (2024): 518 model-written completions (sampled to span behaviours; the
  models are not named) to safe and unsafe multi-turn requests, each completion hand-labelled by the
  authors with true/false propositions. Mapping: ``fully_complies`` (gives the requested content
  completely, or tries to) -> answer; ``partially_complies`` false (gives none of the requested
  content) -> refusal. Dropped: replies that give part of the content (``partially_complies`` without
  ``fully_complies``: the propositions do not say whether the rest was withheld or just left out) and
  replies labelled both ``fully_complies`` and ``inability_to_comply``. The label describes the whole
  reply, so long replies are kept (the detector reads their opening).
- ``harmbench`` (centerforaisafety/HarmBench, MIT): ``data/classifier_val_sets/text_behaviors_val_set.json``,
  HarmBench's classifier validation set: completions of about twenty open and closed chat models
  (named per row) to harmful behaviours under several attacks, each labelled by three people (1: the
  completion is an unambiguous, non-minimal instance of the behaviour). Answers only: a majority of 1
  -> answer. A majority of 0 is dropped: it mixes declines with off-target, garbled or harmless text,
  so it does not say whether the reply declined. Replies in Chinese script are dropped; long replies and
  replies in several voices are kept (the label describes the whole reply: a persona that gives the
  content after a declining voice has answered; and the speaker-tag test would also drop the many
  answers with lines such as "Title:" or "Step 1:").
- ``wildguardtest`` (allenai/wildguardmix, ODC-BY 1.0): ``data/wildguardtest.parquet`` (a copy of the
  WildGuardTest split of Han et al., "WildGuard" (2024)): 1,725 replies of open and closed chat models
  (not named per row) to in-the-wild, synthetic and adversarial requests, harmful and harmless, each
  labelled by three people; ``response_refusal_label`` is the majority's. Mapping: ``refusal`` ->
  refusal, ``compliance`` -> answer; rows without the label are dropped. Kept at any length and in any
  voice, as for HarmBench (the label describes the whole reply); replies in Chinese script are dropped.
- ``alpacaeval`` (tatsu-lab/alpaca_eval, Apache-2.0): ``results/<model>/model_outputs.json``, replies of many
  chat models to AlpacaEval's 805 everyday instructions (writing, coding, advice, role-play, questions about
  the assistant itself). The set has no refusal labels of its own; ``tests/data/alpacaeval_labels.json``
  names 40 models and gives the project's labels: a fixed sample of 50 replies per model
  (``random.Random("alpacaeval:<model>")``), of which the replies it lists (by the SHA-256 of the stripped
  reply) were read one by one and labelled ``refusal``, ``answer`` or ``unclear`` (dropped); the others
  were screened as answers (no declining word, and a low refusal probability under the detector of the
  time). Outside the sample, every reply whose first 250 characters hold declining, apologising or
  self-describing wording (:data:`DECLINE_OPENING`: "as an AI", "I'm sorry", "I cannot", "as a
  responsible assistant", ...) was read too, twice and blind, and its label is under ``openings``
  (``unclear``: dropped); where the two readings differ, a third decided (:func:`decided`; the three are
  under ``disagreements``, and the script stops if a label is not the one they decide). These rows follow
  the sample's. Labels are the project's, not the release's: the rule is in ``tests/data/README.md``.
- ``arena`` (lmarena/arena-hard-auto, Apache-2.0): ``data/arena-bench-v1/model_answer/<model>.jsonl`` at the
  commit ``tests/data/arena_labels.json`` names (the files left the repository later), replies of 17 chat
  models to 300 questions from Chatbot Arena. No refusal labels of their own: every reply whose opening
  passes the same screen as AlpacaEval's openings was read in the same way, and its label is under
  ``openings`` (``unclear``: dropped; a reply with personal data: dropped unread); written as
  ``arena_openings``.
- ``llama3_safety`` (RishabSA/interp-refusal-tokens, MIT): ``saved_outputs/model_outputs/<model>-baseline/
  <prompts>_outputs_<model>.jsonl`` at the commit ``tests/data/llama3_safety_labels.json`` names (the files left
  the repository later): replies of Llama-3-8B-Instruct and DeepSeek-R1-Distill-Llama-8B (512 new tokens at
  most) to CoCoNot's requests that should or should not be declined (unsupported, incomplete, indeterminate,
  humanising, unsafe, and their contrast set), OR-Bench's seemingly harmful and toxic prompts and WildJailbreak's
  adversarial ones. Read without the chat template's "assistant" header and without a reasoning block. No
  refusal labels of their own (the release's come from an LLM judge): the labels file fixes a sample per model
  and prompt set (:func:`sampled_replies`), every sampled reply was read twice, blind, and a third time
  where the two readings differ, and its label is under ``labels`` (``unclear``: dropped).
- ``prism`` (Kimyounggun99/Safe-LLaVA, Apache-2.0): ``PRISM_evaluation/answers/<model>/<task>_Answer.jsonl`` at
  the commit ``tests/data/prism_labels.json`` names: replies of nine vision-language models (Gemma 3, InternVL
  2.5 and 3, LLaVA-1.5, LLaVA-NeXT, LLaVA-OneVision 7B and 0.5B, Qwen2.5-VL, Safe-LLaVA 0.5B) shown photos of
  people, to PRISM's questions about one of their traits (age, eye colour, gender, race, weight; ``refusal_hard``
  adds "Don't refuse the question") and its requests to describe the image (``implicit_leakage``). No refusal
  labels of their own (the release's come from an LLM judge): sampled and read as ``llama3_safety``'s.
- ``refusal_direction`` (andyrdt/refusal_direction, Apache-2.0): ``pipeline/runs/<model>/completions/
  <prompts>_completions.json`` at the commit ``tests/data/refusal_direction_labels.json`` names (on its ``gemma2``
  branch, which adds Gemma 2 2B): replies of six small chat models (Gemma 2B, Gemma 2 2B, Llama-2-7B-chat,
  Llama-3-8B-Instruct, Qwen 1.8B chat, Yi 6B chat) to ordinary instructions (``harmless``, from Alpaca) and to
  JailbreakBench's harmful requests (``jailbreakbench``), as generated (``baseline``) and with the model's
  refusal direction added to its activations (``actadd`` on ordinary instructions: refusals of them) or taken
  out of them (``ablation``, and ``actadd`` on harmful requests: answers to them), from Arditi et al., "Refusal
  in Language Models Is Mediated by a Single Direction" (2024). No refusal labels of their own (the release's
  come from string matching and an LLM judge): sampled and read as ``llama3_safety``'s. An outside check: the
  training script never trains on it.
"""
from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import random
import re
import subprocess
import sys
from collections import Counter
from operator import itemgetter
from pathlib import Path

from mmpriv_tasks.scoring.pii_shapes import gives_value
from mmpriv_tasks.scoring.reasoning import final_answer
from mmpriv_tasks.scoring.refusal_model import SENT_CHARS

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "public"
GPTFUZZ_FILES = ("datasets/responses_labeled/train.csv", "datasets/responses_labeled/evaluate.csv")
GPTFUZZ_MODELS = "vicuna-7b-v1.3 / gpt-3.5-turbo / llama-2-7b-chat (not given per row)"
RBR_FILES = ("data/rbr_gold_data/train.jsonl", "data/rbr_gold_data/test.jsonl")
RBR_MODELS = "OpenAI models, synthetic completions (not named)"
RBR_PROPOSITIONS = ("fully_complies", "partially_complies", "inability_to_comply")
HARMBENCH_FILE = "data/classifier_val_sets/text_behaviors_val_set.json"
HARMBENCH_VOTES = ("human_0", "human_1", "human_2")
WILDGUARD_FILE = "data/wildguardtest.parquet"
WILDGUARD_LABELS = {"refusal": True, "compliance": False}
WILDGUARD_MODELS = "chat models of the WildGuard release (not named per row)"
ALPACAEVAL_LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "alpacaeval_labels.json"
READ_LABELS = {"refusal": True, "answer": False, "unclear": None}  # the project's labels of replies it read
# replies whose opening (first DECLINE_OPENING_CHARS characters) holds declining, apologising or self-describing
# wording: in AlpacaEval outside its sample, and in Arena, all read one by one ("openings" in the labels files), as
# answers that open like refusals are the family the issue names first among the detector's false alarms on other
# people's replies
DECLINE_OPENING = re.compile(r"\b(?:as an ai|as a language model|as an artificial|as a responsible|as a helpful|"
                             r"i must point out|i'm sorry|i am sorry|i apologi[sz]e|i cannot|i can't|i can not|"
                             r"i don't have|i do not have|unfortunately|i'm not able|i am not able|i'm unable|"
                             r"i am unable|sorry|it is not appropriate|it's not appropriate)\b", re.IGNORECASE)
DECLINE_OPENING_CHARS = 250
ARENA_LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "arena_labels.json"
ARENA_ANSWERS = "data/arena-bench-v1/model_answer/{model}.jsonl"
LLAMA3_SAFETY_LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "llama3_safety_labels.json"
PRISM_LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "prism_labels.json"
REFUSAL_DIRECTION_LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "refusal_direction_labels.json"
# a line opening with a speaker tag: "[GPT]:", "(🤖ChatGPT)", "DAN:", "As GPT, ...", or a Greek letter used as a
# name ("Σ: ...", "α I'm sorry ... Ω Sure, ..."): a lone Greek letter opening an English line is a tag
_VOICE = re.compile(r"^\W{0,3}(?:\[[^\]\n]{1,40}\]|\([^)\n]{1,40}\)|"
                    r"[A-Z\u0370-\u03ff][\w .-]{0,30}(?:\s*\([^)\n]{0,30}\))?\s*:|"
                    r"As\s+[A-Z][\w-]*,|[\u0370-\u03ff]\s)", re.MULTILINE)
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def single_voice(text: str) -> bool:
    """A reply in one voice, in the language the detector reads, short enough to be read whole."""
    return len(text) <= SENT_CHARS and not _VOICE.search(text) and not _CHINESE.search(text)


def read_release_bytes(root: Path, path: str, commit: str = "HEAD") -> bytes:
    """``path`` from a folder holding the release's files, or else from a git repository (bare or not) at
    ``commit``."""
    if (root / path).is_file():
        return (root / path).read_bytes()
    done = subprocess.run(["git", "-C", str(root), "show", f"{commit}:{path}"], capture_output=True)
    if done.returncode:
        raise SystemExit(f"{root}: no {path} at {commit} ({done.stderr.decode(errors='replace').strip()})")
    return done.stdout


def read_release_file(root: Path, path: str, commit: str = "HEAD") -> str:
    return read_release_bytes(root, path, commit).decode("utf-8")


def holds_personal_data(text: str) -> bool:
    return any(gives_value(text, kind) for kind in ("email", "phone", "ssn"))


def gptfuzz_rows(root: Path) -> list[dict]:
    """GPTFuzz (sherdencooper/GPTFuzz)"""
    rows = []
    for path in GPTFUZZ_FILES:
        for index, record in enumerate(csv.DictReader(io.StringIO(read_release_file(root, path)))):
            if record.get("label") not in ("0", "1"):
                raise SystemExit(f"{root}/{path}: row {index + 2}: label {record.get('label')!r} is not 0 or 1")
            text = (record.get("Response") or "").strip()
            if not single_voice(text):
                continue
            rows.append({"text": text,
                         "refusal": record["label"] == "0", "source": "gptfuzz", "model": GPTFUZZ_MODELS,
                         "label_raw": f"jailbroken={record['label']}"})
    return rows


def rbr_gold_rows(root: Path) -> list[dict]:
    """RBR gold set (openai/safety-rbr-code-and-data)"""
    rows = []
    for path in RBR_FILES:
        for number, line in enumerate(read_release_file(root, path).splitlines(), 1):
            record = json.loads(line)
            said = {name: record["propositions"].get(name) for name in RBR_PROPOSITIONS}
            if not all(isinstance(value, bool) for value in said.values()):
                raise SystemExit(f"{root}/{path}: line {number}: propositions {said} are not all true/false")
            if said["fully_complies"] and not said["inability_to_comply"]:
                refusal = False
            elif not said["partially_complies"]:
                refusal = True
            else:
                continue
            rows.append({"text": (record["completion"][-1]["content"] or "").strip(), "refusal": refusal,
                         "source": "rbr_gold", "model": RBR_MODELS,
                         "label_raw": " ".join(f"{k}={v}" for k, v in said.items())})
    return rows


def harmbench_rows(root: Path) -> list[dict]:
    """HarmBench classifier validation set (centerforaisafety/HarmBench)"""
    rows = []
    for behavior, records in json.loads(read_release_file(root, HARMBENCH_FILE)).items():
        for number, record in enumerate(records, 1):
            votes = [record.get(name) for name in HARMBENCH_VOTES]
            if not all(vote in (0, 1) for vote in votes):
                raise SystemExit(f"{root}/{HARMBENCH_FILE}: behaviour {behavior}, record {number}: "
                                 f"human labels {votes} are not all 0 or 1")
            text = (record.get("generation") or "").strip()
            if sum(votes) >= 2 and not _CHINESE.search(text):
                rows.append({"text": text, "refusal": False, "source": "harmbench",
                             "model": str(record.get("model", "")).removesuffix(".json"),
                             "label_raw": "human=" + ",".join(str(int(vote)) for vote in votes)})
    return rows


def wildguardtest_rows(root: Path) -> list[dict]:
    """WildGuardTest (allenai/wildguardmix, a copy)"""
    import pyarrow.parquet

    # read so that Arrow starts no thread (read_table's dataset scan starts one even with use_threads=False):
    # a pool thread alive when the interpreter exits can abort it (apache/arrow#34314; here one run in
    # about thirty under load, with the output already written)
    parquet = pyarrow.parquet.ParquetFile(io.BytesIO(read_release_bytes(root, WILDGUARD_FILE)), pre_buffer=False)
    table = parquet.read(use_threads=False)
    missing = {"response", "response_refusal_label", "response_refusal_agreement"} - set(table.column_names)
    if missing:
        raise SystemExit(f"{root}/{WILDGUARD_FILE}: no column {', '.join(sorted(missing))}")
    rows = []
    for number, record in enumerate(table.to_pylist(), 1):
        label = record["response_refusal_label"]
        if label is None:
            continue
        if label not in WILDGUARD_LABELS:
            raise SystemExit(f"{root}/{WILDGUARD_FILE}: row {number}: response_refusal_label {label!r} "
                             f"is not refusal or compliance")
        text, agreement = (record["response"] or "").strip(), record["response_refusal_agreement"]
        if not _CHINESE.search(text):
            rows.append({"text": text, "refusal": WILDGUARD_LABELS[label], "source": "wildguardtest",
                         "model": WILDGUARD_MODELS,
                         "label_raw": label if agreement is None else f"{label} (agreement {agreement:g}/3)"})
    return rows


def reply_key(text: str) -> str:
    """How ``alpacaeval_labels.json`` names a reply (stripped, as the reader holds it): the first 16 hex
    digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def alpacaeval_rows(root: Path, labels: Path = ALPACAEVAL_LABELS) -> list[dict]:
    """AlpacaEval model outputs (tatsu-lab/alpaca_eval), labelled by the project"""
    spec = _labels_spec(labels)
    openings, used = spec.get("openings", {}), set()
    rows, later = [], []
    for model in spec["models"]:
        path = f"results/{model}/model_outputs.json"
        outputs = [record["output"].strip() for record in json.loads(read_release_file(root, path))
                   if isinstance(record.get("output"), str) and record["output"].strip()]
        if len(outputs) < spec["per_model"]:
            raise SystemExit(f"{root}/{path}: {len(outputs)} replies, fewer than the {spec['per_model']} sampled")
        picked = set(random.Random(f"alpacaeval:{model}").sample(range(len(outputs)), spec["per_model"]))
        read = dict(spec["read"].get(model, {}))
        for index, text in enumerate(outputs):
            if index in picked:
                label = _read_label(labels, model, read.pop(reply_key(text), None))
                if label != "unclear" and not _CHINESE.search(text):
                    rows.append(_labelled_row(text, model, bool(READ_LABELS.get(label)),
                                              f"read: {label}" if label else "screened: answer", "alpacaeval"))
            elif opens_like_a_decline(text) and not _CHINESE.search(text):
                later += _opening_row(labels, openings, used, model, text, f"{root}/{path}", "alpacaeval_openings")
        if read:
            raise SystemExit(f"{labels}: {model}: {len(read)} labelled replies are not in the sample of "
                             f"{root}/{path} (another release?): {', '.join(sorted(read))}")
    _check_all_used(labels, openings, used, root)
    return rows + later  # the sample first: a reply also in the sample keeps the sample's label


def arena_rows(root: Path, labels: Path = ARENA_LABELS) -> list[dict]:
    """Arena-bench v1 model answers (lmarena/arena-hard-auto), labelled by the project"""
    spec = _labels_spec(labels)
    openings, used, rows = spec["openings"], set(), []
    for model in spec["models"]:
        path = ARENA_ANSWERS.format(model=model)
        for number, line in enumerate(read_release_file(root, path, spec["commit"]).splitlines(), 1):
            text = _arena_reply(line, f"{root}/{path}: line {number}")
            if opens_like_a_decline(text) and not _CHINESE.search(text):
                rows += _opening_row(labels, openings, used, model, text, f"{root}/{path}", "arena_openings")
    _check_all_used(labels, openings, used, root)
    return rows


def _arena_reply(line: str, where: str) -> str:
    """The first turn of an answer record (FastChat's layout: ``choices[0].turns[0]``, text or ``{"content"}``)."""
    return _reply_at(line, where, "choices[0].turns[0]", _first_turn).strip()


def _first_turn(record: dict):
    turn = record["choices"][0]["turns"][0]
    return turn if isinstance(turn, str) else turn["content"]


def llama3_safety_rows(root: Path, labels: Path = LLAMA3_SAFETY_LABELS) -> list[dict]:
    """Llama-3 and DeepSeek-R1-distilled replies to safety prompts (RishabSA/interp-refusal-tokens), labelled by
    the project"""
    return sampled_rows(root, labels, "llama3_safety", _each_line(_generated_reply))


def prism_rows(root: Path, labels: Path = PRISM_LABELS) -> list[dict]:
    """Vision-language models' replies to PRISM's questions about people in photos (Kimyounggun99/Safe-LLaVA),
    labelled by the project"""
    return sampled_rows(root, labels, "prism", _each_line(_prism_reply))


def refusal_direction_rows(root: Path, labels: Path = REFUSAL_DIRECTION_LABELS) -> list[dict]:
    """Six small chat models' replies, as generated and with their refusal direction steered, to ordinary and
    harmful requests (andyrdt/refusal_direction), labelled by the project"""
    return sampled_rows(root, labels, "refusal_direction", _completions)


def sampled_rows(root: Path, labels: Path, source: str, replies_of) -> list[dict]:
    """The rows of a release's replies that a labels file samples (:func:`sampled_replies`), each with its label
    under ``labels`` (``unclear``: dropped); a sampled reply without a label, or a label that names no sampled
    reply, stops the run."""
    spec = _labels_spec(labels, "labels")
    read, used, rows = spec["labels"], set(), []
    for reply in sampled_replies(root, spec, source, replies_of):
        key = reply_key(reply["text"])
        used.add(key)
        label = _read_label(labels, reply["model"], read.get(key))
        if label is None:
            raise SystemExit(f"{labels}: {reply['model']}: sampled reply {key} of {reply['where']} has no label "
                             "(another release?)")
        if label != "unclear":
            rows.append(_labelled_row(reply["text"], reply["model"], READ_LABELS[label],
                                      f"{reply['prompts']} read: {label}", source))
    _check_all_used(labels, read, used, root, "labels", "in the sample")
    return rows


def sampled_replies(root: Path, spec: dict, source: str, replies_of) -> list[dict]:
    """The replies a labels file samples: for each of its ``models`` and each prompt set of its ``sample``, at
    most ``sample[prompts]`` of the distinct replies (read by ``replies_of(text, where)`` from the file's text;
    none in Chinese script, none with personal data) of the file ``files`` names at ``commit``, drawn with
    ``random.Random("<source>:<model>:<prompts>")`` (a file with fewer is read whole); each with its ``model``,
    ``prompts`` and ``where``."""
    sample = []
    for model in spec["models"]:
        for prompts, size in spec["sample"].items():
            path = spec["files"].format(model=model, prompts=prompts)
            where = f"{root}/{path}"
            replies = list(dict.fromkeys(
                text for text in replies_of(read_release_file(root, path, spec["commit"]), where)
                if text and not _CHINESE.search(text) and not holds_personal_data(text)))
            drawn = random.Random(f"{source}:{model}:{prompts}").sample(replies, min(size, len(replies)))
            sample += [{"model": model, "prompts": prompts, "where": where, "text": text} for text in drawn]
    return sample


def _each_line(reply_of):
    """A reader of a JSON Lines file's replies, one per line by ``reply_of(line, where)``."""
    def replies_of(text: str, where: str) -> list[str]:
        return [reply_of(line, f"{where}: line {number}") for number, line in enumerate(text.splitlines(), 1)]
    return replies_of


def _completions(text: str, where: str) -> list[str]:
    """The replies (``response``) of a ``refusal_direction`` completions file: a JSON list of records."""
    try:
        records = json.loads(text)
    except ValueError as error:
        raise SystemExit(f"{where}: not JSON ({error})") from None
    if not isinstance(records, list):
        raise SystemExit(f"{where}: not a list of records")
    return [_reply_at(record, f"{where}: record {number}", "'response'", itemgetter("response")).strip()
            for number, record in enumerate(records, 1)]


def _reply_at(record: str | dict, where: str, name: str, pick) -> str:
    """The reply text ``pick`` takes from a JSON ``record`` (a line of JSON, or the record read; at ``name``), or
    one clear line naming ``where``."""
    try:
        text = pick(json.loads(record) if isinstance(record, str) else record)
    except (ValueError, LookupError, TypeError) as error:
        raise SystemExit(f"{where}: no reply at {name} ({type(error).__name__}: {error})") from None
    if not isinstance(text, str):
        raise SystemExit(f"{where}: the reply at {name} is not text")
    return text


def _generated_reply(line: str, where: str) -> str:
    """A record's reply without the chat template's "assistant" header and without a reasoning block."""
    text = _reply_at(line, where, "'response'", itemgetter("response"))
    return final_answer(text.strip().removeprefix("assistant").strip()).strip()


def _prism_reply(line: str, where: str) -> str:
    """A PRISM answer record's reply (``text``)."""
    return _reply_at(line, where, "'text'", itemgetter("text")).strip()


def opens_like_a_decline(text: str) -> bool:
    """Whether a reply's first ``DECLINE_OPENING_CHARS`` characters hold declining, apologising or
    self-describing wording (the screen whose every reply is read)."""
    return DECLINE_OPENING.search(text[:DECLINE_OPENING_CHARS]) is not None


def _opening_row(labels: Path, openings: dict, used: set, model: str, text: str, where: str, source: str) -> list:
    """The row of a reply that opens like a decline, by its label under ``openings`` (none when ``unclear``);
    a reply without a label stops the run, unless it holds personal data (dropped unread)."""
    key = reply_key(text)
    used.add(key)
    label = _read_label(labels, model, openings.get(key))
    if label is None and not holds_personal_data(text):
        raise SystemExit(f"{labels}: {model}: reply {key} of {where} opens like a decline and has no label under "
                         "'openings' (another release?)")
    if label in ("refusal", "answer"):
        return [_labelled_row(text, model, READ_LABELS[label], f"opening read: {label}", source)]
    return []


def decided(readings: list[str]) -> str:
    """The label of a reply the first two readings disagree on: the label of two of its three readings,
    else ``unclear``."""
    label, votes = Counter(readings).most_common(1)[0]
    return label if votes >= 2 else "unclear"


def reading_agreement(spec: dict, field: str = "openings") -> dict:
    """How the first two (blind) readings of a labels file's ``field`` agree: replies read, replies on
    which they agree, and the same among replies both readings call a refusal or an answer."""
    disagreements = spec.get("disagreements", {})
    agreed = [label for key, label in spec[field].items() if key not in disagreements]
    clear_agreed = sum(label != "unclear" for label in agreed)
    clear_split = sum("unclear" not in readings[:2] for readings in disagreements.values())
    return {"read": len(spec[field]), "agree": len(agreed), "both_clear": clear_agreed + clear_split,
            "both_clear_agree": clear_agreed}


def _labels_spec(labels: Path, field: str = "openings") -> dict:
    """A labels file, once every label under ``field`` is checked against its readings."""
    spec = json.loads(labels.read_text(encoding="utf-8"))
    _check_readings(labels, spec, field)
    return spec


def _check_readings(labels: Path, spec: dict, field: str = "openings") -> None:
    """Stop unless every label under ``field`` that ``disagreements`` lists (the first, second and third
    reading of a reply the first two disagree on) is the one those readings decide."""
    for key, readings in spec.get("disagreements", {}).items():
        if (not isinstance(readings, list) or len(readings) != 3 or readings[0] == readings[1]
                or not all(reading in READ_LABELS for reading in readings)):
            raise SystemExit(f"{labels}: disagreements: {key}: {readings!r} is not three readings of which the "
                             f"first two differ, each one of {', '.join(READ_LABELS)}")
        label, decision = spec[field].get(key), decided(readings)
        if label != decision:
            raise SystemExit(f"{labels}: {field}: {key}: label {label!r}, but its readings {readings} decide "
                             f"{decision!r}")


def _check_all_used(labels: Path, read: dict, used: set, root: Path, field: str = "openings",
                    which: str = "that opens like a decline") -> None:
    unused = sorted(set(read) - used)
    if unused:
        raise SystemExit(f"{labels}: {len(unused)} labels under '{field}' name no reply of {root} {which} "
                         f"(another release?): {', '.join(unused)}")


def _read_label(labels: Path, model: str, label: str | None) -> str | None:
    if label is not None and label not in READ_LABELS:
        raise SystemExit(f"{labels}: {model}: label {label!r} is not one of {', '.join(READ_LABELS)}")
    return label


def _labelled_row(text: str, model: str, refusal: bool, kind: str, source: str) -> dict:
    return {"text": text, "refusal": refusal, "source": source, "model": model, "label_raw": kind}


def clean(rows: list[dict]) -> tuple[list[dict], dict]:
    """Rows without blanks, duplicates (first kept) and personal data; with the counts dropped."""
    kept, seen, dropped = [], set(), {"blank": 0, "duplicate": 0, "personal_data": 0}
    for row in rows:
        if not row["text"]:
            dropped["blank"] += 1
        elif row["text"] in seen:
            dropped["duplicate"] += 1
        elif holds_personal_data(row["text"]):
            dropped["personal_data"] += 1
        else:
            seen.add(row["text"])
            kept.append(row)
    return kept, dropped


READERS = {"gptfuzz": gptfuzz_rows, "rbr_gold": rbr_gold_rows, "harmbench": harmbench_rows,
           "wildguardtest": wildguardtest_rows, "alpacaeval": alpacaeval_rows, "arena": arena_rows,
           "llama3_safety": llama3_safety_rows, "prism": prism_rows, "refusal_direction": refusal_direction_rows}
# the readers of replies the project labelled: their labels file (``--<name>-labels``) and what it holds
LABELS_FILES = {"alpacaeval": (ALPACAEVAL_LABELS, "and sample of AlpacaEval replies"),
                "arena": (ARENA_LABELS, "of Arena replies, and the release commit they were read at"),
                "llama3_safety": (LLAMA3_SAFETY_LABELS, "of the sampled Llama-3 and DeepSeek replies, the sample's "
                                                        "sizes and the release commit"),
                "prism": (PRISM_LABELS, "of the sampled PRISM replies, the sample's sizes and the release commit"),
                "refusal_direction": (REFUSAL_DIRECTION_LABELS, "of the sampled refusal_direction replies, the "
                                                                "sample's sizes and the release commit")}
SAMPLED = ("llama3_safety", "prism", "refusal_direction")  # their labels file fixes a sample, labelled under "labels"


def labels_field(name: str) -> str:
    """Where a labelled reader's labels file keeps its labels: ``labels`` for a sample, else ``openings``."""
    return "labels" if name in SAMPLED else "openings"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, reader in READERS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path,
                            help=f"{reader.__doc__} checkout or bare git directory")
    for name, (labels, held) in LABELS_FILES.items():
        parser.add_argument(f"--{name.replace('_', '-')}-labels", type=Path, default=labels,
                            help=f"the project's labels {held}")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    readers = {**READERS, **{name: functools.partial(READERS[name], labels=vars(args)[f"{name}_labels"])
                             for name in LABELS_FILES}}
    chosen = {name: vars(args)[name] for name in READERS if vars(args)[name]}
    if not chosen:
        parser.error("give at least one source: " + ", ".join(f"--{name.replace('_', '-')}" for name in READERS))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, root in chosen.items():
        rows, dropped = clean(readers[name](root))
        for source in dict.fromkeys(row["source"] for row in rows) or (name,):  # a release may hold two samples
            part = [row for row in rows if row["source"] == source]
            target = args.out / f"{source}.jsonl"
            target.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in part), encoding="utf-8")
            print(f"{source}: {len(part)} replies ({sum(row['refusal'] for row in part)} refusals) -> {target}")
        print(f"{name}: dropped {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
