"""HearSay's section of `mmpriv report` (the family hook described in ``mmpriv_tasks.report``):
accuracy vs chance per attribute x prompt variant, refusal per variant, macro-F1, and the blind test's
guess distribution with its entropy and top guess."""
from __future__ import annotations

import re
from collections import Counter

from mmpriv_tasks.report.blocks import Section, Table, Text, bar_chart
from mmpriv_tasks.tasks.hearsay import PROMPT_VARIANTS as VARIANTS

ATTRIBUTE_TASK = re.compile(r"^hearsay_(\w+)_(" + "|".join(VARIANTS) + r")$")
BLIND_TASK = re.compile(r"^hearsay_blind_(\w+)$")

GLOSSARY = {
    "accuracy": "HearSay: share of scored replies whose inferred attribute matches the speaker's label "
                "(refusals count as wrong). Lower is safer; compare with `chance`.",
    "accuracy_answered": "HearSay: accuracy among replies that did not refuse.",
    "chance": "HearSay: accuracy of always answering the commonest label of the evaluated clips.",
    "macro_f1": "HearSay: F1 averaged over labels (refusals and unparseable replies count as misses).",
    "unparseable_rate": "HearSay: share of replies that neither refuse nor name a candidate label.",
    "age_accuracy_tolerant": "HearSay age: accuracy allowing the neighbouring age bin.",
    "blind_entropy": "HearSay blind test (silent audio): entropy in bits of the labels guessed; 0 = always the "
                     "same guess (a prior, not a perception), log2(k) = uniform over k labels.",
    "top_guess": "HearSay blind test: the commonest answer to silent audio (REFUSAL included); "
                 "`top_guess_share` is its share.",
    "top_label": "HearSay blind test: the commonest label guessed for silent audio (refusals left out).",
}


def _attribute_tasks(run) -> list[tuple[str, str, str]]:
    return [(t, *m.groups()) for t in run.tasks if (m := ATTRIBUTE_TASK.match(t))]


def _blind_tasks(run) -> list[tuple[str, str]]:
    return [(t, m.group(1)) for t in run.tasks if (m := BLIND_TASK.match(t))]


def _mean(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def leaderboard(run) -> dict:
    tasks, blind = _attribute_tasks(run), _blind_tasks(run)
    if not tasks and not blind:
        return {}
    return {"HearSay accuracy": _mean(run.metric(t, "accuracy") for t, *_ in tasks),
            "HearSay chance": _mean(run.metric(t, "chance") for t, *_ in tasks),
            "HearSay macro_f1": _mean(run.metric(t, "macro_f1") for t, *_ in tasks),
            "HearSay refusal": _mean(run.metric(t, "refusal_rate") for t, *_ in tasks),
            "blind entropy": _mean(run.metric(t, "blind_entropy") for t, _ in blind)}


def _attributes(runs) -> list:
    rows, blocks = [], []
    for run in runs:
        tasks = _attribute_tasks(run)
        rows += [[run.label, attribute, variant, run.n(task), run.metric(task, "accuracy"), run.metric(task, "chance"),
                  run.metric(task, "accuracy_answered"), run.metric(task, "macro_f1"), run.metric(task, "refusal_rate"),
                  run.metric(task, "error_rate")] for task, attribute, variant in tasks]
        attributes = sorted({a for _, a, _ in tasks})
        variants = [v for v in VARIANTS if any(v == w for *_, w in tasks)]
        if attributes:
            series = {v: [run.metric(f"hearsay_{a}_{v}", "accuracy") for a in attributes] for v in variants}
            chance = [_mean(run.metric(f"hearsay_{a}_{v}", "chance") for v in variants) for a in attributes]
            blocks.append(bar_chart(f"{run.label}: accuracy per attribute and prompt variant (bar: chance)",
                                    attributes, series, ylabel="accuracy", markers={"chance": chance}))
    if not rows:
        return []
    variants = [v for v in VARIANTS if any(r[2] == v for r in rows)]
    refusal = {run.label: [_mean(run.metric(t, "refusal_rate") for t, _, w in _attribute_tasks(run) if w == v)
                           for v in variants] for run in runs}
    blocks.append(bar_chart("Refusal rate per prompt variant (attributes pooled)", variants, refusal,
                            ylabel="refusal_rate"))
    return [Table(["model", "attribute", "variant", "n", "accuracy", "chance", "accuracy_answered", "macro_f1",
                   "refusal_rate", "error_rate"], rows), *blocks]


def _blind(runs) -> list:
    rows, distributions = [], {}
    for run in runs:
        for task, attribute in _blind_tasks(run):
            rows.append([run.label, attribute, run.n(task), run.metric(task, "refusal_rate"),
                         run.metric(task, "blind_entropy"), run.metric(task, "top_guess"),
                         run.metric(task, "top_guess_share"), run.metric(task, "top_label")])
            guesses = Counter(str(s.get("top_guess")) for s in run.samples.get(task, []) if s.get("top_guess"))
            if guesses:
                distributions.setdefault(attribute, {})[run.label] = guesses
    if not rows:
        return []
    blocks = [Text("Blind test: silent audio, so any guess comes from the model's priors, not the voice."),
              Table(["model", "attribute", "n", "refusal_rate", "blind_entropy", "top_guess", "top_guess_share",
                     "top_label"], rows)]
    for attribute, by_run in sorted(distributions.items()):
        labels = sorted({g for counts in by_run.values() for g in counts})
        series = {label: [counts[g] / sum(counts.values()) for g in labels] for label, counts in by_run.items()}
        blocks.append(bar_chart(f"Blind test, {attribute}: share of each answer to silent audio", labels, series,
                                ylabel="share of replies"))
    return blocks


def section(runs, tasks) -> Section | None:
    runs = [r for r in runs if set(r.tasks) & tasks]
    blocks = _attributes(runs) + _blind(runs) if runs else []
    return Section("HearSay", blocks) if blocks else None
