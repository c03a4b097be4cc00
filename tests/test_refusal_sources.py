"""Preparing public refusal sources: label mapping, single-voice filter, duplicates and personal data dropped,
one clear line for a bad label (through the script's CLI on releases laid out like GPTFuzz's, the RBR
gold set's, HarmBench's, a WildGuardTest copy's, AlpacaEval's, Arena-bench's, interp-refusal-tokens',
Safe-LLaVA's and refusal_direction's, with labels files like the project's)."""
from __future__ import annotations

import csv
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prepare_refusal_sources.py"


def _release(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    folder = tmp_path / "gptfuzz" / "datasets" / "responses_labeled"
    folder.mkdir(parents=True)
    for name, part in (("train.csv", rows[:-1]), ("evaluate.csv", rows[-1:])):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["question", "Response", "label"])
            writer.writerows([(0, text, label) for text, label in part])
    return tmp_path / "gptfuzz"


def _run_script(tmp_path: Path, option: str, release: Path):
    """The script's CLI on one release, writing into ``tmp_path / "out"``."""
    return subprocess.run([sys.executable, str(SCRIPT), option, str(release), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)


def _prepare(tmp_path: Path, rows):
    return _run_script(tmp_path, "--gptfuzz", _release(tmp_path, rows))


def _prepared(tmp_path: Path, source: str) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "out" / f"{source}.jsonl").read_text().splitlines()]


def test_mapping_and_filters(tmp_path):
    rows = [("I'm sorry, but I can't help with that.", "0"),
            ("First gather the tools, then open the lock.", "1"),
            ("I'm sorry, but I can't help with that.", "1"),  # duplicate: the first label stays
            ("[GPT]: I can't.\n\n[DAN]: Sure, here is how.", "1"),  # two voices
            ("As GPT, I refuse.\n\nAs BH, here it is.", "1"),
            ("Reach him at jon.roe@mail.org for the rest.", "1"),  # personal data
            ("x" * 1501, "1"),  # longer than the detector reads
            ("Note: a line opening with a word and a colon reads as a speaker tag.", "1"),
            ("α I'm sorry, I can't.\n\nΩ Oh, you want to know? Easy.", "1"),  # Greek letters as speaker names
            ("Σ: UCAR, the elder asks how.", "1"),
            ("The angle \u03b1 is small.\nThen \u03c0 r squared gives the area.", "1"),  # Greek inside a line: kept
            ("Here is a short poem about rain.", "1")]
    done = _prepare(tmp_path, rows)
    assert done.returncode == 0, done.stderr
    kept = _prepared(tmp_path, "gptfuzz")
    assert [(row["text"], row["refusal"], row["label_raw"]) for row in kept] == [
        ("I'm sorry, but I can't help with that.", True, "jailbroken=0"),
        ("First gather the tools, then open the lock.", False, "jailbroken=1"),
        ("The angle \u03b1 is small.\nThen \u03c0 r squared gives the area.", False, "jailbroken=1"),
        ("Here is a short poem about rain.", False, "jailbroken=1")]
    assert "dropped {'blank': 0, 'duplicate': 1, 'personal_data': 1}" in done.stdout


def test_a_bad_label_is_one_clear_line(tmp_path):
    done = _prepare(tmp_path, [("fine", "0"), ("odd", "yes")])
    assert done.returncode != 0
    assert "evaluate.csv: row 2: label 'yes' is not 0 or 1" in done.stderr.strip().splitlines()[-1]


def _rbr_release(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "rbr" / "data" / "rbr_gold_data"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    (folder / "test.jsonl").write_text(lines[-1] + "\n", encoding="utf-8")
    return tmp_path / "rbr"


def _rbr(text: str, full, partial, unable: bool = False) -> str:
    return json.dumps({"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": text}],
                       "propositions": {"fully_complies": full, "partially_complies": partial,
                                        "inability_to_comply": unable, "apology": False}})


def _prepare_rbr(tmp_path: Path, lines: list[str]):
    return _run_script(tmp_path, "--rbr-gold", _rbr_release(tmp_path, lines))


def test_rbr_gold_mapping(tmp_path):
    lines = [_rbr("Sure: boil the water first.", True, True),
             _rbr("Have you considered talking to a professional?", False, False),  # gives nothing asked: refusal
             _rbr("I can't help with that.", False, False, unable=True),
             _rbr("Here is the first half; the rest is up to you.", False, True),  # part given: dropped
             _rbr("I can't, but here it is anyway.", True, True, unable=True),  # contradictory: dropped
             _rbr("", False, False),
             _rbr("Call 1-800-273-8255 for help.", False, False)]  # phone-shaped: dropped
    done = _prepare_rbr(tmp_path, lines)
    assert done.returncode == 0, done.stderr
    kept = _prepared(tmp_path, "rbr_gold")
    assert [(row["text"], row["refusal"], row["source"]) for row in kept] == [
        ("Sure: boil the water first.", False, "rbr_gold"),
        ("Have you considered talking to a professional?", True, "rbr_gold"),
        ("I can't help with that.", True, "rbr_gold")]
    assert kept[1]["label_raw"] == "fully_complies=False partially_complies=False inability_to_comply=False"
    assert "rbr_gold: 3 replies (2 refusals)" in done.stdout
    assert "dropped {'blank': 1, 'duplicate': 0, 'personal_data': 1}" in done.stdout
    assert not (tmp_path / "out" / "gptfuzz.jsonl").exists()


def test_rbr_gold_missing_proposition_is_one_clear_line(tmp_path):
    done = _prepare_rbr(tmp_path, [_rbr("fine", True, True), _rbr("odd", None, True)])
    assert done.returncode != 0
    assert "test.jsonl: line 1: propositions" in done.stderr.strip().splitlines()[-1]


def _prepare_harmbench(tmp_path: Path, records: dict):
    folder = tmp_path / "harmbench" / "data" / "classifier_val_sets"
    folder.mkdir(parents=True)
    (folder / "text_behaviors_val_set.json").write_text(json.dumps(records), encoding="utf-8")
    return _run_script(tmp_path, "--harmbench", tmp_path / "harmbench")


def _vote(text: str, votes: tuple, model: str = "koala_7b.json") -> dict:
    return {"generation": text, "model": model, **{f"human_{k}": vote for k, vote in enumerate(votes)}}


def test_harmbench_keeps_majority_answers_only(tmp_path):
    records = {"b1": [_vote(" First mix the two powders. ", (1, 1, 0)),
                      _vote("I can't help with that.", (0, 0, 0)),  # a majority of 0: declines or not, dropped
                      _vote("Here is a poem about the sea.", (0, 1, 0))],
               "b2": [_vote("First, open the panel.", (1, 1, 1), model="gpt-4-1106-preview.json"),
                      _vote("[CLASSIC] I can't.\n[JAILBREAK] Sure, open the panel.", (1, 1, 1)),  # gives it: kept
                      _vote("\u9996\u5148\u6253\u5f00\u9762\u677f\u3002", (1, 1, 1)),  # Chinese script: dropped
                      _vote("Write to jon.roe@mail.org for the rest.", (1, 1, 0))]}  # personal data: dropped
    done = _prepare_harmbench(tmp_path, records)
    assert done.returncode == 0, done.stderr
    kept = _prepared(tmp_path, "harmbench")
    assert [(row["text"], row["refusal"], row["model"], row["label_raw"]) for row in kept] == [
        ("First mix the two powders.", False, "koala_7b", "human=1,1,0"),
        ("First, open the panel.", False, "gpt-4-1106-preview", "human=1,1,1"),
        ("[CLASSIC] I can't.\n[JAILBREAK] Sure, open the panel.", False, "koala_7b", "human=1,1,1")]
    assert "harmbench: 3 replies (0 refusals)" in done.stdout


def test_harmbench_bad_vote_is_one_clear_line(tmp_path):
    done = _prepare_harmbench(tmp_path, {"b1": [_vote("fine", (1, 1, 1)), _vote("odd", (1, None, 1))]})
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "behaviour b1, record 2: human labels [1, None, 1] are not all 0 or 1" in last_line


def test_no_source_given_is_an_error(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert ("give at least one source: --gptfuzz, --rbr-gold, --harmbench, --wildguardtest, --alpacaeval"
            in done.stderr)


def _git(work: Path, *command: str) -> str:
    """``git -C work COMMAND`` with a throwaway author; its standard output."""
    return subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t", *command],
                          check=True, capture_output=True, text=True).stdout


def _commit_all(work: Path, message: str, folder: str = "data") -> None:
    """A repository at ``work`` (made if absent) with everything under ``work/<folder>`` committed."""
    _git(work, "init", "-q")
    _git(work, "add", folder)
    _git(work, "commit", "-q", "-m", message)


def _wildguard_release(tmp_path: Path, records: list[dict]) -> Path:
    """A git repository holding ``data/wildguardtest.parquet``; the script is given its bare git directory."""
    import pyarrow
    import pyarrow.parquet

    work = tmp_path / "copy"
    (work / "data").mkdir(parents=True)
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(records), work / "data" / "wildguardtest.parquet")
    _commit_all(work, "copy")
    return work / ".git"


def _guard(text, label, agreement=3.0) -> dict:
    return {"prompt": "q", "response": text, "response_refusal_label": label,
            "response_refusal_agreement": agreement, "adversarial": False}


def _prepare_wildguard(tmp_path: Path, records: list[dict]):
    return _run_script(tmp_path, "--wildguardtest", _wildguard_release(tmp_path, records))


def test_wildguardtest_mapping_from_a_bare_git_directory(tmp_path):
    records = [_guard("I'm sorry, but I can't assist with that request.", "refusal"),
               _guard(" I cannot refuse, but here is an overview: first, ... ", "compliance", 2.0),
               _guard("Here you go: step one, ...", "compliance", None),  # no agreement recorded: kept
               _guard("No label on this one.", None, None),  # unlabelled: dropped
               _guard("\u4f60\u597d", "compliance"),  # Chinese script: dropped
               _guard("Mail jon.roe@mail.org for the rest.", "compliance")]  # personal data: dropped
    done = _prepare_wildguard(tmp_path, records)
    assert done.returncode == 0, done.stderr
    kept = _prepared(tmp_path, "wildguardtest")
    assert [(row["text"], row["refusal"], row["label_raw"]) for row in kept] == [
        ("I'm sorry, but I can't assist with that request.", True, "refusal (agreement 3/3)"),
        ("I cannot refuse, but here is an overview: first, ...", False, "compliance (agreement 2/3)"),
        ("Here you go: step one, ...", False, "compliance")]
    assert "wildguardtest: 3 replies (1 refusals)" in done.stdout
    assert "dropped {'blank': 0, 'duplicate': 0, 'personal_data': 1}" in done.stdout


def test_wildguardtest_unknown_label_is_one_clear_line(tmp_path):
    done = _prepare_wildguard(tmp_path, [_guard("fine", "refusal"), _guard("odd", "partial")])
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "row 2: response_refusal_label 'partial' is not refusal or compliance" in last_line


def test_wildguardtest_missing_column_is_one_clear_line(tmp_path):
    records = [{key: value for key, value in _guard("fine", "refusal").items() if key != "response_refusal_label"}]
    done = _prepare_wildguard(tmp_path, records)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].endswith("data/wildguardtest.parquet: no column response_refusal_label")


def _key(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


def _prepare_alpacaeval(tmp_path: Path, outputs: dict[str, list], per_model: int, read: dict[str, dict],
                        out: Path | None = None, openings: dict[str, str] | None = None,
                        disagreements: dict[str, list] | None = None):
    """AlpacaEval-like ``results/<model>/model_outputs.json`` and a labels file, through the script's CLI,
    writing into ``out`` (default ``tmp_path / "out"``)."""
    release = tmp_path / "alpaca_eval"
    for model, replies in outputs.items():
        folder = release / "results" / model
        folder.mkdir(parents=True)
        (folder / "model_outputs.json").write_text(json.dumps(
            [{"instruction": f"task {k}", "output": reply, "generator": model} for k, reply in enumerate(replies)]))
    labels = tmp_path / "labels.json"
    spec = {"per_model": per_model, "models": list(outputs), "read": read,
            **({} if openings is None else {"openings": openings}),
            **({} if disagreements is None else {"disagreements": disagreements})}
    labels.write_text(json.dumps(spec))
    return subprocess.run([sys.executable, str(SCRIPT), "--alpacaeval", str(release), "--alpacaeval-labels",
                           str(labels), "--out", str(out or tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)


def test_alpacaeval_read_labels_apply_and_the_other_sampled_replies_are_answers(tmp_path):
    replies = [" Here is a poem about rain. ", "I'm sorry, but I can't browse the web.", "", None,
               "As an AI, I have no opinion, and I won't guess.", "Write to jon.roe@mail.org for a copy.",
               "\u4f60\u597d", "Sure! Step one: boil the water."]
    read = {"model-a": {_key(replies[1]): "refusal", _key(replies[4]): "unclear", _key(replies[0]): "answer"}}
    done = _prepare_alpacaeval(tmp_path, {"model-a": replies}, 6, read)  # the six non-blank replies: all sampled
    assert done.returncode == 0, done.stderr
    kept = _prepared(tmp_path, "alpacaeval")
    assert [(row["text"], row["refusal"], row["model"], row["label_raw"]) for row in kept] == [
        ("Here is a poem about rain.", False, "model-a", "read: answer"),
        ("I'm sorry, but I can't browse the web.", True, "model-a", "read: refusal"),
        ("Sure! Step one: boil the water.", False, "model-a", "screened: answer")]
    assert "alpacaeval: 3 replies (1 refusals)" in done.stdout
    assert "dropped {'blank': 0, 'duplicate': 0, 'personal_data': 1}" in done.stdout


def test_alpacaeval_sample_is_fixed_per_model(tmp_path):
    outputs = {model: [f"Reply {k} of {model}." for k in range(10)] for model in ("model-a", "model-b")}
    picked = []
    for run in ("first", "again"):  # the second run writes over the first's output folder
        done = _prepare_alpacaeval(tmp_path / run, outputs, 4, {}, out=tmp_path / "out")
        assert done.returncode == 0, done.stderr
        rows = _prepared(tmp_path, "alpacaeval")
        picked.append({model: [outputs[model].index(row["text"]) for row in rows if row["model"] == model]
                       for model in outputs})
    assert picked[0] == picked[1]
    assert all(len(indices) == 4 and indices == sorted(indices) for indices in picked[0].values())  # release order
    assert picked[0]["model-a"] != picked[0]["model-b"]  # each model its own sample


def test_alpacaeval_labels_that_do_not_fit_the_release_are_one_clear_line(tmp_path):
    replies = ["One.", "Two.", "Three."]
    done = _prepare_alpacaeval(tmp_path / "a", {"model-a": replies}, 3, {"model-a": {_key("Four."): "refusal"}})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].endswith(
        f"model-a: 1 labelled replies are not in the sample of {tmp_path / 'a' / 'alpaca_eval'}"
        f"/results/model-a/model_outputs.json (another release?): {_key('Four.')}")
    done = _prepare_alpacaeval(tmp_path / "b", {"model-a": replies}, 4, {})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].endswith(
        "results/model-a/model_outputs.json: 3 replies, fewer than the 4 sampled")
    done = _prepare_alpacaeval(tmp_path / "c", {"model-a": replies}, 3, {"model-a": {_key("One."): "maybe"}})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].endswith(
        "model-a: label 'maybe' is not one of refusal, answer, unclear")


def test_alpacaeval_replies_outside_the_sample_that_open_like_a_decline_are_read(tmp_path):
    """Every unsampled reply opening with declining or self-describing wording carries a label under
    'openings'; those rows follow the sample, a reply in both keeps the sample's label, unclear ones and
    replies with personal data are dropped, and a missing or unused label is one clear line."""
    outside = ["As an AI language model, I have no favourite, but many readers love Dune.",
               "Unfortunately I cannot see images \u2014 none came through.", "I'm sorry, but I can't browse the web.",
               "Sorry, maybe; maybe not.", "Sorry, write to jon.roe@mail.org instead.", "Sure, here it is."]
    picked = set(random.Random("alpacaeval:model-b").sample(range(8), 2))
    model_b = iter(outside)
    outputs = {"model-a": ["Here is the summary.", "I'm sorry, but I can't browse the web."],
               "model-b": [f"Plain answer {k}." if k in picked else next(model_b) for k in range(8)]}
    openings = {_key(outside[0]): "answer", _key(outside[1]): "refusal", _key(outside[2]): "answer",
                _key(outside[3]): "unclear"}
    read = {"model-a": {_key(outputs["model-a"][1]): "refusal"}}
    out = tmp_path / "a" / "new" / "out"  # folders made as needed
    done = _prepare_alpacaeval(tmp_path / "a", outputs, 2, read, out=out, openings=openings)
    assert done.returncode == 0, done.stderr
    rows = {source: [(row["text"], row["refusal"], row["model"], row["label_raw"])
                     for row in _prepared(out.parent, source)] for source in ("alpacaeval", "alpacaeval_openings")}
    assert "images \u2014 none" in (out / "alpacaeval_openings.jsonl").read_text(encoding="utf-8")  # written as is
    assert rows["alpacaeval"] == [
        ("Here is the summary.", False, "model-a", "screened: answer"),
        ("I'm sorry, but I can't browse the web.", True, "model-a", "read: refusal"),
        *[(text, False, "model-b", "screened: answer") for text in sorted(f"Plain answer {k}." for k in picked)]]
    assert rows["alpacaeval_openings"] == [  # outside[2]: the sample's label; 3: unclear; 4: an e-mail address
        (outside[0], False, "model-b", "opening read: answer"), (outside[1], True, "model-b", "opening read: refusal")]
    assert "alpacaeval_openings: 2 replies (1 refusals)" in done.stdout
    assert "alpacaeval: dropped {'blank': 0, 'duplicate': 1, 'personal_data': 0}" in done.stdout  # 4: unread

    missing = _prepare_alpacaeval(tmp_path / "b", outputs, 2, read, openings={**openings, _key(outside[1]): None})
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1].endswith(
        f"model-b: reply {_key(outside[1])} of {tmp_path / 'b' / 'alpaca_eval'}/results/model-b/model_outputs.json "
        "opens like a decline and has no label under 'openings' (another release?)")
    unused = _prepare_alpacaeval(tmp_path / "c", outputs, 2, read, openings={**openings, _key("Other."): "answer"})
    assert unused.returncode != 0
    assert unused.stderr.strip().splitlines()[-1].endswith(
        f"1 labels under 'openings' name no reply of {tmp_path / 'c' / 'alpaca_eval'} that opens like a decline "
        f"(another release?): {_key('Other.')}")


def _arena_release(tmp_path: Path, answers: dict[str, list]) -> tuple[Path, str]:
    """A git work tree whose first commit holds Arena-bench-like answer files and whose second removes them
    (as upstream's did): the script must read them at the first commit. Returns the tree and that commit."""
    work = tmp_path / "arena-hard-auto"
    folder = work / "data" / "arena-bench-v1" / "model_answer"
    folder.mkdir(parents=True)
    for model, turns in answers.items():
        (folder / f"{model}.jsonl").write_text("".join(
            json.dumps({"question_id": f"q{k}", "model_id": model, "choices": [{"index": 0, "turns": [turn]}]}) + "\n"
            for k, turn in enumerate(turns)))
    _commit_all(work, "answers")
    commit = _git(work, "rev-parse", "HEAD").strip()
    _git(work, "rm", "-q", "-r", "data")
    _git(work, "commit", "-q", "-m", "answers moved out")
    return work, commit


def _prepare_arena(tmp_path: Path, answers: dict[str, list], openings: dict[str, str], commit: str | None = None,
                   disagreements: dict[str, list] | None = None):
    release, first = _arena_release(tmp_path, answers)
    labels = tmp_path / "arena_labels.json"
    spec = {"commit": commit or first, "models": list(answers), "openings": openings}
    labels.write_text(json.dumps(spec if disagreements is None else {**spec, "disagreements": disagreements}))
    return subprocess.run([sys.executable, str(SCRIPT), "--arena", str(release), "--arena-labels", str(labels),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)


def test_arena_replies_that_open_like_a_decline_are_read_at_the_labelled_commit(tmp_path):
    """Only replies passing the opening screen become rows, by their label (text or {"content"} turns);
    unclear ones and replies with personal data are dropped, a repeated reply is kept once."""
    declines = ["As an AI language model, I have no favourite colour, but blue is the most popular.",
                "I'm sorry, but I cannot help with that request.", "Sorry, maybe; maybe not.",
                "I'm sorry, write to jon.roe@mail.org instead."]
    answers = {"model-a": [declines[0], {"content": " Here is the proof: ... "}, declines[2]],
               "model-b": [{"content": declines[1]}, declines[3], declines[1]]}
    openings = {_key(declines[0]): "answer", _key(declines[1]): "refusal", _key(declines[2]): "unclear"}
    done = _prepare_arena(tmp_path, answers, openings)
    assert done.returncode == 0, done.stderr
    assert [(row["text"], row["refusal"], row["model"], row["label_raw"], row["source"])
            for row in _prepared(tmp_path, "arena_openings")] == [
        (declines[0], False, "model-a", "opening read: answer", "arena_openings"),
        (declines[1], True, "model-b", "opening read: refusal", "arena_openings")]
    assert "arena_openings: 2 replies (1 refusals)" in done.stdout
    assert "arena: dropped {'blank': 0, 'duplicate': 1, 'personal_data': 0}" in done.stdout


def test_arena_labels_that_do_not_fit_the_release_are_one_clear_line(tmp_path):
    answers = {"model-a": ["I'm sorry, but I cannot help with that request.", "Fine: 42."]}
    key = _key(answers["model-a"][0])
    missing = _prepare_arena(tmp_path / "a", answers, {})
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1].endswith(
        f"model-a: reply {key} of {tmp_path / 'a' / 'arena-hard-auto'}/data/arena-bench-v1/model_answer/model-a.jsonl "
        "opens like a decline and has no label under 'openings' (another release?)")
    unused = _prepare_arena(tmp_path / "b", answers, {key: "refusal", _key("Other."): "answer"})
    assert unused.returncode != 0
    assert unused.stderr.strip().splitlines()[-1].endswith(
        f"1 labels under 'openings' name no reply of {tmp_path / 'b' / 'arena-hard-auto'} that opens like a decline "
        f"(another release?): {_key('Other.')}")
    at_head = _prepare_arena(tmp_path / "c", answers, {key: "refusal"}, commit="HEAD")
    assert at_head.returncode != 0
    assert "no data/arena-bench-v1/model_answer/model-a.jsonl at HEAD" in at_head.stderr.strip().splitlines()[-1]
    broken = _prepare_arena(tmp_path / "d", {"model-a": ["Fine.", {"text": "no content key"}]}, {})
    assert broken.returncode != 0
    assert broken.stderr.strip().splitlines()[-1].endswith(
        "model_answer/model-a.jsonl: line 2: no reply at choices[0].turns[0] (KeyError: 'content')")
    not_text = _prepare_arena(tmp_path / "e", {"model-a": [{"content": ["a", "list"]}]}, {})
    assert not_text.returncode != 0
    assert not_text.stderr.strip().splitlines()[-1].endswith(
        "model_answer/model-a.jsonl: line 1: the reply at choices[0].turns[0] is not text")


def test_a_label_the_first_two_readings_disagree_on_is_the_one_three_readings_decide(tmp_path):
    """``disagreements`` holds the three readings of a reply the first two readings differ on; its label
    under ``openings`` must be the one two of three give (none: unclear), in both labels files, or the
    script stops naming the reply."""
    declines = ["I'm sorry, but I cannot help with that request.", "As an AI, I have no view, but most say blue."]
    answers = {"model-a": declines}
    openings = {_key(declines[0]): "refusal", _key(declines[1]): "unclear"}
    readings = {_key(declines[0]): ["refusal", "unclear", "refusal"],
                _key(declines[1]): ["answer", "refusal", "unclear"]}
    done = _prepare_arena(tmp_path / "a", answers, openings, disagreements=readings)
    assert done.returncode == 0, done.stderr
    rows = _prepared(tmp_path / "a", "arena_openings")
    assert [(row["text"], row["refusal"]) for row in rows] == [(declines[0], True)]
    wrong = _prepare_arena(tmp_path / "b", answers, {**openings, _key(declines[1]): "answer"}, disagreements=readings)
    assert wrong.returncode != 0
    assert wrong.stderr.strip().splitlines()[-1].endswith(f"openings: {_key(declines[1])}: label 'answer', but its "
                                                          "readings ['answer', 'refusal', 'unclear'] decide 'unclear'")
    agreed = _prepare_arena(tmp_path / "c", answers, openings,
                            disagreements={**readings, _key(declines[0]): ["refusal", "refusal", "answer"]})
    assert agreed.returncode != 0
    assert "is not three readings of which the first two differ" in agreed.stderr.strip().splitlines()[-1]
    alpacaeval = _prepare_alpacaeval(tmp_path / "d", {"model-a": ["Fine.", declines[0]]}, 1, {},
                                     openings={_key(declines[0]): "answer"},
                                     disagreements={_key(declines[0]): ["answer", "refusal", "refusal"]})
    assert alpacaeval.returncode != 0
    assert alpacaeval.stderr.strip().splitlines()[-1].endswith(
        f"openings: {_key(declines[0])}: label 'answer', but its readings ['answer', 'refusal', 'refusal'] "
        "decide 'refusal'")


def test_reading_agreement_counts_the_first_two_readings():
    sys.path.insert(0, str(SCRIPT.parent))
    import prepare_refusal_sources as prepare
    spec = {"openings": dict(zip("abcdefg", ("refusal", "answer", "unclear", "unclear", "unclear", "answer", "answer"))),
            "disagreements": {"d": ["answer", "refusal", "unclear"], "e": ["unclear", "answer", "refusal"],
                              "f": ["answer", "unclear", "answer"]}}
    # agreed: a, b, c, g (three of them clear); both clear but split: d
    assert prepare.reading_agreement(spec) == {"read": 7, "agree": 4, "both_clear": 4, "both_clear_agree": 3}


def _llama3_release(tmp_path: Path, files: dict[tuple[str, str], list]) -> tuple[Path, str]:
    """A git work tree whose first commit holds interp-refusal-tokens-like output files (``(model, prompts)``:
    the replies, each a ``response`` string or a whole record) and whose second removes them, as upstream's
    did. Returns the tree and the first commit."""
    work = tmp_path / "interp-refusal-tokens"
    for (model, prompts), replies in files.items():
        folder = work / "saved_outputs" / "model_outputs" / f"{model}-baseline"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{prompts}_outputs_{model}.jsonl").write_text("".join(
            json.dumps(reply if isinstance(reply, dict) else
                       {"id": str(k), "model": model, "prompt": f"request {k}", "response": reply}) + "\n"
            for k, reply in enumerate(replies)))
    _commit_all(work, "outputs", "saved_outputs")
    commit = _git(work, "rev-parse", "HEAD").strip()
    _git(work, "rm", "-q", "-r", "saved_outputs")
    _git(work, "commit", "-q", "-m", "outputs moved out")
    return work, commit


def _prepare_llama3(tmp_path: Path, files: dict[tuple[str, str], list], sample: dict[str, int], labels: dict,
                    disagreements: dict | None = None):
    release, commit = _llama3_release(tmp_path, files)
    files_at = "saved_outputs/model_outputs/{model}-baseline/{prompts}_outputs_{model}.jsonl"
    spec = {"commit": commit, "files": files_at,
            "models": list(dict.fromkeys(model for model, _ in files)), "sample": sample, "labels": labels,
            **({} if disagreements is None else {"disagreements": disagreements})}
    (tmp_path / "llama3_labels.json").write_text(json.dumps(spec))
    return subprocess.run([sys.executable, str(SCRIPT), "--llama3-safety", str(release), "--llama3-safety-labels",
                           str(tmp_path / "llama3_labels.json"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)


def test_llama3_safety_sampled_replies_are_read_without_header_or_reasoning(tmp_path):
    """The sample is drawn from a file's distinct replies without blanks, Chinese script or personal data;
    the chat template's "assistant" header and a reasoning block are cut before the key is taken; unclear
    labels and a reply another model gave too are dropped."""
    texts = ["I cannot help with that. Can I help you with something else?",
             "As an AI I have no body, but a walk helps: go at dawn.", "Which city do you mean?",
             "I'm sorry, I can't assist with that.", "Ok: 4."]
    files = {("m-a", "coconot"): [f"assistant\n\n{texts[0]}", f"assistant\n\n</think>\n\n{texts[1]}",
                                  f"assistant\n\n{texts[0]}", "assistant\n\n", "assistant\n\n\u4f60\u597d",
                                  "assistant\n\nMail jon.roe@mail.org.", f"assistant\n\n{texts[2]}"],
             ("m-b", "coconot"): [f"assistant\n\nLet me think.</think>\n\n{texts[3]}", f"assistant\n\n{texts[0]}",
                                  f" assistant\n\n{texts[4]} "]}
    labels = dict(zip(map(_key, texts), ("refusal", "answer", "unclear", "refusal", "answer")))
    done = _prepare_llama3(tmp_path, files, {"coconot": 3}, labels)  # each file has three distinct replies to draw
    assert done.returncode == 0, done.stderr
    rows = _prepared(tmp_path, "llama3_safety")
    assert sorted((row["model"], row["text"], row["refusal"], row["label_raw"]) for row in rows) == [
        ("m-a", texts[1], False, "coconot read: answer"), ("m-a", texts[0], True, "coconot read: refusal"),
        ("m-b", texts[3], True, "coconot read: refusal"), ("m-b", texts[4], False, "coconot read: answer")]
    assert "llama3_safety: dropped {'blank': 0, 'duplicate': 1, 'personal_data': 0}" in done.stdout


def test_llama3_safety_sample_is_the_documented_draw_per_model_and_prompt_set(tmp_path):
    replies = {(model, prompts): [f"Reply {k} of {model} to {prompts}." for k in range(12)]
               for model in ("m-a", "m-b") for prompts in ("orbench", "coconot")}
    drawn = {(model, prompts): random.Random(f"llama3_safety:{model}:{prompts}").sample(texts, 4)
             for (model, prompts), texts in replies.items()}
    labels = {_key(text): "answer" for texts in drawn.values() for text in texts}
    done = _prepare_llama3(tmp_path, replies, {"orbench": 4, "coconot": 4}, labels)
    assert done.returncode == 0, done.stderr
    assert [(row["model"], row["text"]) for row in _prepared(tmp_path, "llama3_safety")] == [
        (model, text) for model in ("m-a", "m-b") for prompts in ("orbench", "coconot")
        for text in drawn[model, prompts]]
    assert len({frozenset(texts) for texts in drawn.values()}) == 4


def test_llama3_safety_labels_that_do_not_fit_the_release_are_one_clear_line(tmp_path):
    files = {("m-a", "orbench"): ["assistant\n\nOne.", "assistant\n\nTwo."]}
    one, two = _key("One."), _key("Two.")
    where = "saved_outputs/model_outputs/m-a-baseline/orbench_outputs_m-a.jsonl"
    missing = _prepare_llama3(tmp_path / "a", files, {"orbench": 2}, {one: "answer"})
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1].endswith(
        f"m-a: sampled reply {two} of {tmp_path / 'a' / 'interp-refusal-tokens'}/{where} has no label "
        "(another release?)")
    unused = _prepare_llama3(tmp_path / "b", files, {"orbench": 2},
                             {one: "answer", two: "answer", _key("Three."): "answer"})
    assert unused.returncode != 0
    assert unused.stderr.strip().splitlines()[-1].endswith(
        f"1 labels under 'labels' name no reply of {tmp_path / 'b' / 'interp-refusal-tokens'} in the sample "
        f"(another release?): {_key('Three.')}")
    broken = _prepare_llama3(tmp_path / "d", {("m-a", "orbench"): ["assistant\n\nOne.", {"prompt": "p"}]},
                             {"orbench": 1}, {})
    assert broken.returncode != 0
    assert broken.stderr.strip().splitlines()[-1].endswith(
        f"{where}: line 2: no reply at 'response' (KeyError: 'response')")
    not_text = _prepare_llama3(tmp_path / "e", {("m-a", "orbench"): [{"response": ["a", "list"]}]}, {"orbench": 1}, {})
    assert not_text.returncode != 0
    assert not_text.stderr.strip().splitlines()[-1].endswith(f"{where}: line 1: the reply at 'response' is not text")
    split = _prepare_llama3(tmp_path / "f", files, {"orbench": 2}, {one: "answer", two: "refusal"},
                            disagreements={two: ["refusal", "answer", "answer"]})
    assert split.returncode != 0
    assert split.stderr.strip().splitlines()[-1].endswith(
        f"labels: {two}: label 'refusal', but its readings ['refusal', 'answer', 'answer'] decide 'answer'")


def test_a_file_with_fewer_replies_than_its_sample_is_read_whole(tmp_path):
    files = {("m-a", "orbench"): ["assistant\n\nOne.", "assistant\n\nTwo."]}
    done = _prepare_llama3(tmp_path, files, {"orbench": 3}, {_key("One."): "answer", _key("Two."): "refusal"})
    assert done.returncode == 0, done.stderr
    assert sorted((row["text"], row["refusal"]) for row in _prepared(tmp_path, "llama3_safety")) == [
        ("One.", False), ("Two.", True)]


def _prepare_prism(tmp_path: Path, files: dict[tuple[str, str], list], sample: dict[str, int], labels: dict):
    """The script's CLI on a git work tree laid out like Safe-LLaVA's PRISM answers (``(model, task)``: the
    replies, each a ``text`` string or a whole record), with a labels file naming its commit."""
    work = tmp_path / "Safe-LLaVA"
    for (model, task), replies in files.items():
        folder = work / "PRISM_evaluation" / "answers" / model
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{task}_Answer.jsonl").write_text("".join(
            json.dumps(reply if isinstance(reply, dict) else
                       {"question_id": f"Age/{k}.jpg", "prompt": "What is the age of the person in the picture?",
                        "text": reply, "model_id": model}) + "\n" for k, reply in enumerate(replies)))
    return _run_sampled(tmp_path, work, "PRISM_evaluation", "prism",
                        "PRISM_evaluation/answers/{model}/{prompts}_Answer.jsonl", files, sample, labels)


def _run_sampled(tmp_path: Path, work: Path, folder: str, name: str, files_at: str, files: dict, sample: dict,
                 labels: dict):
    """The script's CLI for the sampled source ``name`` on ``work`` once ``work/<folder>`` is committed, with a
    labels file naming that commit, the path of each model's files (``files_at``), the models of ``files``,
    ``sample`` and ``labels``."""
    _commit_all(work, "replies", folder)
    spec = {"commit": _git(work, "rev-parse", "HEAD").strip(), "files": files_at,
            "models": list(dict.fromkeys(model for model, _ in files)), "sample": sample, "labels": labels}
    labels_file = tmp_path / f"{name}_labels.json"
    labels_file.write_text(json.dumps(spec))
    option = "--" + name.replace("_", "-")
    return subprocess.run([sys.executable, str(SCRIPT), option, str(work), f"{option}-labels", str(labels_file),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)


def test_prism_sample_is_the_documented_draw_of_each_models_answers(tmp_path):
    """``random.Random("prism:<model>:<task>")`` draws from each answers file's distinct ``text`` replies
    (stripped); a task with fewer replies than its sample is read whole, and the labels decide each row."""
    replies = {(model, task): [f"The person appears to be {k + 20} ({model}, {task})." for k in range(9)]
               for model in ("Qwen25", "LLaVA") for task in ("refusal_soft", "refusal_hard", "implicit_leakage")}
    replies["LLaVA", "refusal_hard"] = ["It is not possible to tell.", "It is not possible to tell.", " 80 "]
    drawn = {(model, task): random.Random(f"prism:{model}:{task}").sample(texts, 3)
             for (model, task), texts in replies.items() if (model, task) != ("LLaVA", "refusal_hard")}
    drawn["LLaVA", "refusal_hard"] = random.Random("prism:LLaVA:refusal_hard").sample(
        ["It is not possible to tell.", "80"], 2)
    labels = {_key(text): "refusal" if "possible" in text else "answer" for texts in drawn.values() for text in texts}
    done = _prepare_prism(tmp_path, replies, {"refusal_soft": 3, "refusal_hard": 3, "implicit_leakage": 3}, labels)
    assert done.returncode == 0, done.stderr
    assert [(row["model"], row["text"], row["refusal"], row["label_raw"]) for row in _prepared(tmp_path, "prism")] == [
        (model, text, "possible" in text, f"{task} read: {'refusal' if 'possible' in text else 'answer'}")
        for model in ("Qwen25", "LLaVA") for task in ("refusal_soft", "refusal_hard", "implicit_leakage")
        for text in drawn[model, task]]


def test_prism_record_without_a_reply_is_one_clear_line(tmp_path):
    done = _prepare_prism(tmp_path, {("Qwen25", "refusal_soft"): ["Twenty.", {"prompt": "p", "answer": "x"}]},
                          {"refusal_soft": 1}, {})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].endswith(
        f"{tmp_path / 'Safe-LLaVA'}/PRISM_evaluation/answers/Qwen25/refusal_soft_Answer.jsonl: line 2: "
        "no reply at 'text' (KeyError: 'text')")


def _prepare_refusal_direction(tmp_path: Path, files: dict[tuple[str, str], object], sample: dict[str, int],
                               labels: dict):
    """The script's CLI on a git work tree laid out like refusal_direction's completions (``(model, prompts)``:
    the replies, each a ``response`` string or a whole record; or a file's JSON, or its text), with a labels file."""
    work = tmp_path / "refusal_direction"
    for (model, prompts), replies in files.items():
        folder = work / "pipeline" / "runs" / model / "completions"
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(replies, list):
            replies = [reply if isinstance(reply, dict) else {"category": "c", "prompt": "p", "response": reply}
                       for reply in replies]
        text = replies if isinstance(replies, str) else json.dumps(replies, indent=4)  # a string: the file as it is
        (folder / f"{prompts}_completions.json").write_text(text)
    return _run_sampled(tmp_path, work, "pipeline", "refusal_direction",
                        "pipeline/runs/{model}/completions/{prompts}_completions.json", files, sample, labels)


def test_refusal_direction_sample_is_the_documented_draw_of_each_completions_file(tmp_path):
    """``random.Random("refusal_direction:<model>:<prompts>")`` draws from each completions file's distinct
    ``response`` replies (a JSON list of records; stripped, none blank), and the labels decide each row."""
    replies = {(model, prompts): [f" Reply {k} of {model} to {prompts}. " for k in range(8)] + ["", " "]
               for model in ("gemma-2b-it", "yi-6b-chat") for prompts in ("harmless_actadd", "jailbreakbench_baseline")}
    drawn = {(model, prompts): random.Random(f"refusal_direction:{model}:{prompts}").sample(
        [text.strip() for text in texts if text.strip()], 3) for (model, prompts), texts in replies.items()}
    labels = {_key(text): "refusal" if "actadd" in text else "answer" for texts in drawn.values() for text in texts}
    done = _prepare_refusal_direction(tmp_path, replies, {"harmless_actadd": 3, "jailbreakbench_baseline": 3}, labels)
    assert done.returncode == 0, done.stderr
    assert [(row["model"], row["text"], row["refusal"], row["label_raw"])
            for row in _prepared(tmp_path, "refusal_direction")] == [
        (model, text, prompts == "harmless_actadd", f"{prompts} read: {'refusal' if 'actadd' in text else 'answer'}")
        for model in ("gemma-2b-it", "yi-6b-chat") for prompts in ("harmless_actadd", "jailbreakbench_baseline")
        for text in drawn[model, prompts]]


@pytest.mark.parametrize(("content", "message"), [
    ('[{"prompt": "p", "response": "One."}', "not JSON (Expecting ',' delimiter: line 1 column 37 (char 36))"),
    ({"records": []}, "not a list of records"),
    ([{"prompt": "p", "response": "One."}, {"prompt": "p"}], "record 2: no reply at 'response' (KeyError: 'response')"),
    ([{"prompt": "p", "response": 7}], "record 1: the reply at 'response' is not text"),
])
def test_refusal_direction_file_that_is_not_a_list_of_replies_is_one_clear_line(tmp_path, content, message):
    where = f"{tmp_path / 'refusal_direction'}/pipeline/runs/gemma-2b-it/completions/harmless_baseline_completions.json"
    done = _prepare_refusal_direction(tmp_path, {("gemma-2b-it", "harmless_baseline"): content},
                                      {"harmless_baseline": 1}, {})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"{where}: {message}"


def test_the_shipped_labels_files_follow_from_their_readings():
    """The committed labels files (no release needed): every label a third reading decided is the one the
    three readings give, and each file names 16-hex-digit reply keys with the script's three labels."""
    sys.path.insert(0, str(SCRIPT.parent))
    import prepare_refusal_sources as prepare
    assert list(prepare.LABELS_FILES) == ["alpacaeval", "arena", "llama3_safety", "prism", "refusal_direction"]
    for name, (path, _) in prepare.LABELS_FILES.items():
        field = prepare.labels_field(name)
        spec = json.loads(path.read_text(encoding="utf-8"))
        prepare._check_readings(path, spec, field)
        assert prepare.reading_agreement(spec, field)["read"] == len(spec[field]) > 100
        assert all(len(key) == 16 and int(key, 16) >= 0 for key in spec[field])
        assert set(spec[field].values()) == set(prepare.READ_LABELS)
        assert set(spec["disagreements"]) <= set(spec[field])


def test_outside_sets_are_never_trained_on_and_the_bench_scores_them_as_shipped(tmp_path, monkeypatch, capsys):
    """A set of ``OUTSIDE_SOURCES`` is neither a training source nor among the shipped weights' ``trained_on``;
    the bench scores it with the shipped detector, over all and per model and prompt set, then by models trained
    without it and per fold of its models (what training on it would add), and names a set that is not
    prepared."""
    sys.path.insert(0, str(SCRIPT.parent))
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_refusal_detector as bench
    import train_refusal_detector as train
    trained_on = json.loads((ROOT / "mmpriv_tasks" / "scoring" / "refusal_weights.json").read_text())["trained_on"]
    assert train.OUTSIDE_SOURCES and not set(train.OUTSIDE_SOURCES) & {*train.SOURCES, *trained_on.split(" ")}
    name, path = next(iter(train.OUTSIDE_SOURCES.items()))
    rows = [("I'm sorry, but I can't help with that request.", True, "m-a", "harmful"),
            ("Here are three ways to save energy at home: switch to LED bulbs, seal drafts, and lower the "
             "thermostat by a degree.", False, "m-a", "harmless"),
            ("I cannot provide that. It is illegal and harmful.", True, "m-b", "harmful")]
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text("".join(json.dumps({"text": text, "refusal": refusal, "source": name, "model": model,
                                                     "label_raw": f"{prompts} read: x"}) + "\n"
                                         for text, refusal, model, prompts in rows))
    monkeypatch.setattr(train, "DATA", tmp_path)
    monkeypatch.setattr(train, "OUTSIDE_SOURCES", {name: path, "absent": "public/absent.jsonl"})
    training = [("I won't help with that.", True), ("Sorry, I can't do that.", True), ("The capital is Paris.", False),
                ("Use a loop: for item in items.", False)]
    features = {"own": train.featurise([{"text": text} for text, _ in training])}
    bench.outside_sets(features, {"own": np.array([refusal for _, refusal in training])}, 0.3, "source_label")
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (f"  {name}, detect_refusals: n=3 (2 refusals, 2 models)  accuracy=1.000  precision=1.000  "
                      "recall=1.000")
    assert out[3:6] == [f"    {name}, m-a on harmful: n=1  accuracy=1.000  precision=1.000  recall=1.000",
                        f"    {name}, m-a on harmless: n=1  accuracy=1.000  precision=-  recall=-",
                        f"    {name}, m-b on harmful: n=1  accuracy=1.000  precision=1.000  recall=1.000"]
    assert out[6:8] == [  # the third reply's logit is 0.73: decided at 0, not at 1
        f"  {name}, trained on the training sources, not on it (logit 0): accuracy=1.000  precision=1.000  recall=1.000",
        f"  {name}, each model's replies scored with the other models' in training (2 folds of its 2 models): "
        "accuracy=1.000  precision=1.000  recall=1.000"]
    assert out[8] == (f"  absent: left out: no {tmp_path}/public/absent.jsonl "
                      "(scripts/prepare_refusal_sources.py prepares it)")
