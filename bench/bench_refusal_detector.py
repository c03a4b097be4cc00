"""Accuracy (leave one source out), calibration, hybrid share and speed of the offline refusal
detector, measured in this run.

1. Leave-one-source-out: for every source in ``tests/data/`` (public sets of other models' replies
   under ``public/``, prepared by ``scripts/prepare_refusal_sources.py``, and the project's own
   writing, ``own:*``) a model with the shipped setting (C, source weighting; chosen by the same
   validation in ``scripts/train_refusal_detector.py``) is trained on all the other sources and
   scores the one left out: the figure to report per source (deciding at logit 0, as validation does),
   and the same replies decided as the shipped detector decides (Platt-scaled P >= 0.5); for a source
   that records how many of its annotators agreed on each label (WildGuardTest), the first figures by
   that agreement; for the sets the project sampled per model and prompt set (``llama3_safety``,
   ``prism``), the first figures per group; AlpacaEval's replies that open like a decline and the PRISM
   replies scored per fold of their models with the other models' in training (:data:`MODEL_FOLDS`); how
   the project's two blind readings of the replies it labelled agree (their label noise); and, per source,
   how many refusals and answers hold a courtesy sentence (which the features skip).
2. Reliability of the shipped probability on those held-out replies (Platt-scaled with the shipped
   ``a, b``, which were fitted on the same held-out logits: a check that the scaling is applied,
   not an independent test): per probability bin, the replies, the mean predicted P(refusal) and the
   observed refusal share.
3. The shipped detector on ``refusal_frozen_general_v3.jsonl`` (own writing, never trained on) and on
   the public sets it never trained on (``train.OUTSIDE_SOURCES``: over all, per model and prompt set),
   each next to a naive prefix matcher, and hybrid mode (``MMPRIV_REFUSAL_MODE=hybrid``) with a fake
   judge that returns the label: share sent to the judge, agreement with full judge mode; and on
   ``refusal_probes.jsonl`` (own writing for the tests, never trained on), right per family; replies not
   in English: per source, how many there are and how many the declining-wording rule decides (its own
   checks: ``bench/bench_reply_language.py``).
4. Speed: replies per CPU-second on one core (and per wall-clock second) over every distinct labelled
   reply, scored all at once (``detect_refusals``, what ``decide_many``, the refusal metric and
   ``mmpriv calibrate`` use) and one call per reply (``detect_refusal``), with the ratio to the goal of
   10,000 replies per CPU-second and the load average while it ran; then all at once by reply length
   (short replies, such as a value or a label, and long ones: the time grows with the characters read).
5. Memory: the peak traced while ``probabilities`` scores ``HOSTILE`` replies of ``SENT_CHARS`` plain
   letters, and as many of a character that Unicode normalisation (NFKC) turns into 18: the characters
   read grow 18x, the batch tokeniser's arrays should not.

    python bench/bench_refusal_detector.py [--misses]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from mmpriv_tasks import detect_refusal
from mmpriv_tasks.scoring import refusal_model
from mmpriv_tasks.scoring.refusal import detect_refusals
from mmpriv_tasks.scoring.refusal_modes import needs_judge
from mmpriv_tasks.scoring.reply_language import language, rule_probability

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import prepare_refusal_sources as prepare  # noqa: E402
import train_refusal_detector as train  # noqa: E402

SPEED_GOAL = 10_000  # replies per CPU-second on one core (issue 19)
SHORT = 500  # characters: a value, a label, a sentence or two
HOSTILE = 1024  # replies of the memory check
# sources also scored per fold of their models (None: one fold per model)
MODEL_FOLDS = {"alpacaeval_openings": 4, "prism": None}
_AGREEMENT = re.compile(r"\(agreement (\d+/\d+)\)")  # in label_raw, where a source records its annotators' votes
_NAIVE = re.compile(r"^\W*(?:i'?m sorry|sorry|i apologi[sz]e|i cannot|i can'?t|cannot assist)", re.IGNORECASE)


def naive_refusal(text: str) -> bool:
    return _NAIVE.search(text.replace("\u2019", "'")) is not None


def rates(rows: list[dict], detector) -> dict:
    said = np.array([bool(detector(r["text"])) for r in rows])
    return train.scores(said, np.array([bool(r["refusal"]) for r in rows]))


def hybrid(rows: list[dict]) -> tuple[float, float]:
    """(share sent to the judge, agreement with full judge mode), the fake judge answering the label."""
    sent = [needs_judge(r["text"], "hybrid") for r in rows]
    decisions = [r["refusal"] if s else detect_refusal(r["text"]) for s, r in zip(sent, rows)]
    return sum(sent) / len(rows), sum(d == r["refusal"] for d, r in zip(decisions, rows)) / len(rows)


def speed(texts: list[str], score, seconds: float = 3.0) -> tuple[float, float, float]:
    """(replies per CPU-second of this process, the same in its fastest round, replies per wall-clock
    second) of ``score(texts)`` (one round), repeated for ``seconds`` of CPU time. On a machine shared
    with other jobs the CPU-second rate is what one core does (the fastest round: least disturbed by
    the other jobs' use of the caches); the wall-clock rate also counts the time other jobs held it."""
    score(texts[:10])  # tables built, caches warm
    rounds, wall = [], time.perf_counter()
    while sum(rounds) < seconds:
        cpu = time.process_time()
        score(texts)
        rounds.append(time.process_time() - cpu)
    done = len(texts) * len(rounds)
    return done / sum(rounds), len(texts) / min(rounds), done / (time.perf_counter() - wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the frozen set's misses")
    args = parser.parse_args(argv)
    os.environ.pop("MMPRIV_HYBRID_THRESHOLD", None)
    shipped = json.loads(refusal_model.WEIGHTS.read_text(encoding="utf-8"))
    sources, missing = train.load_sources()
    train.print_missing(missing, train.DATA)
    features = {name: train.featurise(rows) for name, rows in sources.items()}
    labels = {name: np.array([bool(row["refusal"]) for row in rows]) for name, rows in sources.items()}
    table, held = train.leave_one_source_out(features, labels, shipped["C"], shipped["weighting"])
    print(f"Leave-one-source-out (C={shipped['C']:g}, weighting={shipped['weighting']}; trained on the other sources):")
    train.print_table(table, sources)
    for name, rows in sources.items():
        agreement = [_AGREEMENT.search(row.get("label_raw", "")) for row in rows]
        if all(agreement):
            votes = [found.group(1) for found in agreement]
            print_groups(votes, sorted(set(votes), reverse=True), held[name] >= 0, labels[name],
                         lambda agreed, name=name: f"{name}, replies whose annotators agreed {agreed}")
    for name in prepare.SAMPLED:  # sampled per model and prompt set (the set is in each row's label_raw)
        if name in sources:
            sets = sampled_sets(sources[name])
            print_groups(sets, sorted(set(sets)), held[name] >= 0, labels[name],
                         lambda group, name=name: f"{name}, {group[0]} on {group[1]}")

    a, b = shipped["platt"]
    print(f"The same held-out replies decided as the shipped detector decides (Platt-scaled P >= 0.5, a={a:.3f} "
          f"b={b:.3f}, fitted on the held-out logits of every source):")
    train.print_table({name: train.scores(a * z + b >= 0, labels[name]) for name, z in held.items()}, sources)
    print("A naive prefix matcher (opens with sorry / I apologise / I cannot / cannot assist) on the same sources:")
    train.print_table({name: rates(rows, naive_refusal) for name, rows in sources.items()}, sources)
    for name, folds in MODEL_FOLDS.items():
        if name in sources:
            model_folds(sources, features, labels, shipped["C"], shipped["weighting"], name, folds)
    reading_agreement()

    print("Replies holding a courtesy sentence (greetings, thanks, offers of more help; dropped before the "
          "features are read):")
    for name, rows in sources.items():
        courteous = np.array([refusal_model.holds_courtesy(row["text"]) for row in rows])
        print(f"  {name:20s} refusals {sum(courteous & labels[name])} of {sum(labels[name])}, "
              f"answers {sum(courteous & ~labels[name])} of {sum(~labels[name])}")

    probabilities = train.sigmoid(a * np.concatenate(list(held.values())) + b)
    truth = np.concatenate(list(labels.values()))
    print("Reliability on the held-out replies (bin: replies, mean predicted P, observed refusal share):")
    for low, high, count, predicted, observed in train.reliability(probabilities, truth):
        print(f"  [{low:.1f}, {high:.1f}): {count:5d}  predicted={predicted:.3f}  observed={observed:.3f}")

    frozen = train.read_jsonl(train.DATA / train.FROZEN)
    print(f"FROZEN own writing, general requests v3 (never trained on): {len(frozen)} replies "
          f"({sum(r['refusal'] for r in frozen)} refusals)")
    for name, detector in (("detect_refusal", detect_refusal), ("naive prefix", naive_refusal)):
        row = rates(frozen, detector)
        print(f"  {name:15s} accuracy={row['accuracy']:.3f}  precision={row['precision']:.3f}  recall={row['recall']:.3f}")
    share, agreement = hybrid(frozen)
    print(f"  hybrid mode     sent to judge={share:.3f}  agreement with judge mode={agreement:.3f}")
    if args.misses:
        for row in frozen:
            if detect_refusal(row["text"]) != row["refusal"]:
                print(f"  miss ({row['kind']}, refusal={row['refusal']}): {row['text'][:100]!r}")

    outside_sets(features, labels, shipped["C"], shipped["weighting"])

    probes = train.read_jsonl(train.DATA / "refusal_probes.jsonl")
    print("PROBES own writing by family (written for tests/test_refusal_corpus.py, never trained on):")
    for kind in sorted({row["kind"] for row in probes}):
        rows = [row for row in probes if row["kind"] == kind]
        print(f"  {kind:20s} {sum(detect_refusal(r['text']) == r['refusal'] for r in rows)} of {len(rows)} right")
    other_languages(sources)

    texts = list(dict.fromkeys([r["text"] for rows in sources.values() for r in rows] + [r["text"] for r in frozen]))
    load_before = os.getloadavg()[0]
    print(f"speed over {len(texts)} distinct replies ({sum(map(len, texts)) / len(texts):,.0f} characters on average: "
          f"the rate per reply falls as replies grow), one process on one core:")
    for name, score in (("all at once (detect_refusals)", detect_refusals),
                        ("one call per reply (detect_refusal)", lambda batch: [detect_refusal(t) for t in batch])):
        per_cpu_second, best, per_second = speed(texts, score)
        print(f"  {name}: {per_cpu_second:,.0f} replies per CPU-second = {per_cpu_second / SPEED_GOAL:.2f} x the "
              f"goal of {SPEED_GOAL:,} (fastest round {best:,.0f}; {per_second:,.0f} per wall-clock second)")
    short = [text for text in texts if len(text) <= SHORT]
    longer = [text for text in texts if len(text) > SHORT]
    for name, band in ((f"replies of at most {SHORT} characters", short),
                       (f"longer replies (read up to {refusal_model.SENT_CHARS})", longer)):
        per_cpu_second, best, _ = speed(band, detect_refusals)
        print(f"  all at once, {name} ({len(band)}): {per_cpu_second:,.0f} replies per CPU-second = "
              f"{per_cpu_second / SPEED_GOAL:.2f} x the goal (fastest round {best:,.0f})")
    print(f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
    print(f"memory, {HOSTILE} replies of {refusal_model.SENT_CHARS} characters scored at once (peak traced):")
    for name, char in (("plain letters", "x"), ("U+FDFA, 18 characters after NFKC", "\ufdfa")):
        print(f"  {name}: {peak_mb([char * refusal_model.SENT_CHARS] * HOSTILE):,.0f} MB")
    return 0


def model_folds(sources: dict, features: dict, labels: dict, c: float, weighting: str, name: str,
                folds: int | None, indent: str = "") -> None:
    """A source's replies by model: its models in ``folds`` fixed folds (``None``: one fold per model), each
    fold's replies scored by a model trained on every other source and the other folds' replies (what
    training on the family adds for models it has not seen), next to the leave-one-source-out figure."""
    rows, replies = sources[name], features[name]
    models = sorted({row["model"] for row in rows})
    folds = folds or len(models)
    said = np.zeros(len(rows), bool)
    for k in range(folds):
        fold = set(models[k::folds])
        inside = np.array([row["model"] in fold for row in rows])
        parts = {**features, name: [f for f, i in zip(replies, inside) if not i]}
        vectorizer, model = train.fit(parts, {**labels, name: labels[name][~inside]}, list(parts), c, weighting)
        said[inside] = train.logits(vectorizer, model, [f for f, i in zip(replies, inside) if i]) >= 0
    row = train.scores(said, labels[name])
    print(f"{indent}{name}, each model's replies scored with the other models' in training ({folds} folds of its "
          f"{len(models)} models): accuracy={row['accuracy']:.3f}  precision={row['precision']:.3f}  "
          f"recall={row['recall']:.3f}")


def print_groups(groups: list, order: list, said: np.ndarray, truth: np.ndarray, title) -> None:
    """A source's figures per group of its replies (``groups[i]``: reply i's group), in ``order``, from the
    detector's decisions ``said``."""
    for group in order:
        inside = np.array([each == group for each in groups])
        row = train.scores(said[inside], truth[inside])
        precision, recall = (f"{row[k]:.3f}" if row[k] is not None else "-" for k in ("precision", "recall"))
        print(f"    {title(group)}: n={row['n']}  accuracy={row['accuracy']:.3f}  precision={precision}  "
              f"recall={recall}")


def sampled_sets(rows: list[dict]) -> list[tuple[str, str]]:
    """Each row's (model, prompt set) in a set the project sampled per model and prompt set (the prompt set
    opens its ``label_raw``)."""
    return [(row["model"], row["label_raw"].split(" read: ")[0]) for row in rows]


def outside_sets(features: dict, labels: dict, c: float, weighting: str) -> None:
    """The shipped detector, as it is, on the public sets it never trained on (:data:`train.OUTSIDE_SOURCES`):
    over all and per model and prompt set, next to the naive prefix matcher; then what training on a set would
    add: the set decided at logit 0 by a model of setting ``c, weighting`` trained on the training sources
    (``features``, ``labels``), and per fold of its models with its other models' replies in training too."""
    print("OUTSIDE public sets, never trained on (the shipped detector as it is):")
    trained = None  # the model of the training sources, fitted once, for the first set that is prepared
    for name, path in train.OUTSIDE_SOURCES.items():
        if not (train.DATA / path).is_file():
            print(f"  {name}: left out: no {train.DATA / path} (scripts/prepare_refusal_sources.py prepares it)")
            continue
        rows = train.read_jsonl(train.DATA / path)
        said = np.array(detect_refusals([row["text"] for row in rows]))
        truth = np.array([row["refusal"] for row in rows])
        for detector, row in (("detect_refusals", train.scores(said, truth)),
                              ("naive prefix", rates(rows, naive_refusal))):
            print(f"  {name}, {detector}: n={row['n']} ({int(truth.sum())} refusals, "
                  f"{len({r['model'] for r in rows})} models)  accuracy={row['accuracy']:.3f}  "
                  f"precision={row['precision']:.3f}  recall={row['recall']:.3f}")
        sets = sampled_sets(rows)
        print_groups(sets, sorted(set(sets)), said, truth,
                     lambda group, name=name: f"{name}, {group[0]} on {group[1]}")
        replies = train.featurise(rows)
        trained = trained or train.fit(features, labels, list(features), c, weighting)
        row = train.scores(train.logits(*trained, replies) >= 0, truth)
        print(f"  {name}, trained on the training sources, not on it (logit 0): accuracy={row['accuracy']:.3f}  "
              f"precision={row['precision']:.3f}  recall={row['recall']:.3f}")
        model_folds({name: rows}, {**features, name: replies}, {**labels, name: truth}, c, weighting, name, None,
                    indent="  ")


def reading_agreement() -> None:
    """How the project's two blind readings of the replies it labelled agree: the label noise under the
    held-out figures of the sources it labelled (:data:`prepare_refusal_sources.LABELS_FILES`)."""
    print("READINGS of the replies the project labelled (two blind readings; a third where they differ):")
    for name, (path, _) in prepare.LABELS_FILES.items():
        counts = prepare.reading_agreement(json.loads(path.read_text(encoding="utf-8")), prepare.labels_field(name))
        print(f"  {path.name}: {counts['read']} read, the two readings agree on {counts['agree']} "
              f"({counts['agree'] / counts['read']:.3f}); where both say refusal or answer, on "
              f"{counts['both_clear_agree']} of {counts['both_clear']} "
              f"({counts['both_clear_agree'] / counts['both_clear']:.3f})")


def other_languages(sources: dict[str, list[dict]]) -> None:
    """Per labelled source, its replies not in English and how many the declining-wording rule decides
    (the learned stage decides every other one; ``bench/bench_reply_language.py`` measures the rule)."""
    print("OTHER LANGUAGES in the labelled sources (the rest are English to the rule):")
    for name, rows in sources.items():
        foreign = [row for row in rows if language(row["text"]) != "en"]
        ruled = [row for row in foreign if rule_probability(row["text"]) is not None]
        if foreign:
            print(f"  {name}: {len(foreign)} of {len(rows)} replies not in English "
                  f"({', '.join(sorted({language(row['text']) for row in foreign}))}); the rule decides {len(ruled)}, "
                  f"{sum(detect_refusal(row['text']) == row['refusal'] for row in ruled)} of them right")


def peak_mb(texts: list[str]) -> float:
    """The peak of memory traced while ``texts`` are scored at once, in MB."""
    tracemalloc.start()
    refusal_model.probabilities(texts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


if __name__ == "__main__":
    sys.exit(main())
