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
    "HearSay accuracy": "HearSay leaderboard: `accuracy` pooled over the attribute tasks' scored samples (the "
                        "`hearsay_*` group rows pool the same way).",
    "HearSay chance": "HearSay leaderboard: `chance` of each attribute task weighted by its scored samples (the "
                      "baseline for the pooled accuracy).",
    "macro_f1 (task mean)": "HearSay leaderboard: unweighted mean of the attribute tasks' `macro_f1`.",
    "blind entropy (task mean)": "HearSay leaderboard: unweighted mean of the blind tasks' `blind_entropy`.",
}
AGGREGATES = {"HearSay accuracy": (ATTRIBUTE_TASK.pattern, "accuracy"),
              "HearSay refusal": (ATTRIBUTE_TASK.pattern, "refusal_rate")}


def _attribute_tasks(run) -> list[tuple[str, str, str]]:
    return [(t, *m.groups()) for t in run.tasks if (m := ATTRIBUTE_TASK.match(t))]


def _blind_tasks(run) -> list[tuple[str, str]]:
    return [(t, m.group(1)) for t in run.tasks if (m := BLIND_TASK.match(t))]


def _mean(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def _weighted_chance(run, tasks) -> float | None:
    """Each task's chance weighted by its scored samples (as the pooled accuracy weights them)."""
    pairs = [(run.metric(t, "chance"), rate.n) for t, *_ in tasks
             if (rate := run.rate(t, "accuracy")) is not None and rate.n and run.metric(t, "chance") is not None]
    total = sum(n for _, n in pairs)
    return sum(c * n for c, n in pairs) / total if total else None


def leaderboard(run) -> dict:
    """The columns that are not pooled rates (``AGGREGATES`` gives those)."""
    tasks, blind = _attribute_tasks(run), _blind_tasks(run)
    if not tasks and not blind:
        return {}
    return {"HearSay chance": _weighted_chance(run, tasks),
            "macro_f1 (task mean)": _mean(run.metric(t, "macro_f1") for t, *_ in tasks),
            "blind entropy (task mean)": _mean(run.metric(t, "blind_entropy") for t, _ in blind)}


def _attributes(runs) -> list:
    rows, blocks = [], []
    for run in runs:
        tasks = _attribute_tasks(run)
        rows += [[run.label, attribute, variant, run.n(task), run.rate(task, "accuracy"), run.metric(task, "chance"),
                  *(run.rate(task, m) for m in ("accuracy_answered", "macro_f1", "refusal_rate", "error_rate"))]
                 for task, attribute, variant in tasks]
        attributes = sorted({a for _, a, _ in tasks})
        variants = [v for v in VARIANTS if any(v == w for *_, w in tasks)]
        if attributes:
            series = {v: [run.rate(f"hearsay_{a}_{v}", "accuracy") for a in attributes] for v in variants}
            chance = [_mean(run.metric(f"hearsay_{a}_{v}", "chance") for v in variants) for a in attributes]
            blocks.append(bar_chart(f"{run.label}: accuracy per attribute and prompt variant (95 % interval; "
                                    f"black tick: chance)",
                                    attributes, series, ylabel="accuracy", markers={"chance": chance}))
    if not rows:
        return []
    variants = [v for v in VARIANTS if any(r[2] == v for r in rows)]
    refusal = {run.label: [run.pooled(f"^hearsay_\\w+_{v}$", "refusal_rate") for v in variants] for run in runs}
    blocks.append(bar_chart("Refusal rate per prompt variant (attributes pooled, 95 % interval)", variants, refusal,
                            ylabel="refusal_rate"))
    return [Table(["model", "attribute", "variant", "samples", "accuracy", "chance", "accuracy_answered", "macro_f1",
                   "refusal_rate", "error_rate"], rows), *blocks]


def _blind(runs) -> list:
    rows, distributions = [], {}
    for run in runs:
        for task, attribute in _blind_tasks(run):
            rows.append([run.label, attribute, run.n(task), run.rate(task, "refusal_rate"),
                         run.rate(task, "blind_entropy"), run.metric(task, "top_guess"),
                         run.metric(task, "top_guess_share"), run.metric(task, "top_label")])
            guesses = Counter(str(s.get("top_guess")) for s in run.samples.get(task, []) if s.get("top_guess"))
            if guesses:
                distributions.setdefault(attribute, {})[run.label] = guesses
    if not rows:
        return []
    blocks = [Text("Blind test: silent audio, so any guess comes from the model's priors, not the voice."),
              Table(["model", "attribute", "samples", "refusal_rate", "blind_entropy", "top_guess", "top_guess_share",
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
