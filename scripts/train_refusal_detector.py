"""Train the refusal detector's learned stage, choosing it by leave-one-source-out validation.

Sources (``tests/data/``, described in ``tests/data/README.md``): public sets of real model replies
labelled by their authors, and AlpacaEval's, Arena's, Llama-3's and DeepSeek's (``llama3_safety``) and
vision-language models' (``prism``) replies labelled by the project (``public/*.jsonl``, prepared by
``scripts/prepare_refusal_sources.py``, not committed: a missing one is skipped with a note) and the project's
own writing (``refusal_corpus.jsonl``, ``refusal_previous.jsonl``, ``refusal_unseen_general.jsonl``,
``refusal_frozen_general_v2.jsonl``, ``refusal_train_extra.jsonl``); ``refusal_frozen_general_v3.jsonl`` stays
frozen (own writing, never trained on), and so do the public sets of :data:`OUTSIDE_SOURCES`.

A logistic regression over the feature names of ``mmpriv_tasks.scoring.refusal_model.features``.
For each setting of the grid (inverse regularisation C; how replies weigh, :data:`WEIGHTINGS`) it
trains on all sources but one and scores the one left out, for every source (two sources from one
release, AlpacaEval's random sample and its replies that open like a decline, are left out together); the setting
with the best mean held-out accuracy wins (ties: the earlier in the grid). The held-out
probabilities of that setting also fit a Platt scaling (``a * z + b`` on the logit), folded into the
weights so the shipped probability is calibrated on replies the model had not seen. The final model
trains on every source and is written to ``mmpriv_tasks/scoring/refusal_weights.json`` (pure-Python
inference; scikit-learn, which lm-eval already installs, is needed only here). Deterministic: the
same sets give the same file.

    python scripts/train_refusal_detector.py [--C 1 --weighting source_label] [--data DIR] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from mmpriv_tasks.scoring import refusal_model

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
PUBLIC_SOURCES = {"gptfuzz": "public/gptfuzz.jsonl", "rbr_gold": "public/rbr_gold.jsonl",
                  "harmbench": "public/harmbench.jsonl", "wildguardtest": "public/wildguardtest.jsonl",
                  "alpacaeval": "public/alpacaeval.jsonl", "alpacaeval_openings": "public/alpacaeval_openings.jsonl",
                  "arena_openings": "public/arena_openings.jsonl", "llama3_safety": "public/llama3_safety.jsonl",
                  "prism": "public/prism.jsonl"}
# public sets the project labelled and never trains on: the bench scores the shipped detector on them as it is
OUTSIDE_SOURCES = {"refusal_direction": "public/refusal_direction.jsonl"}
RELEASES = {"alpacaeval_openings": "alpacaeval"}  # sources drawn from one release, held out together
OWN_SOURCES = {"own:corpus": "refusal_corpus.jsonl", "own:previous": "refusal_previous.jsonl",
               "own:unseen_general": "refusal_unseen_general.jsonl", "own:general_v2": "refusal_frozen_general_v2.jsonl",
               "own:train_extra": "refusal_train_extra.jsonl"}
SOURCES = {**PUBLIC_SOURCES, **OWN_SOURCES}
FROZEN = "refusal_frozen_general_v3.jsonl"
WEIGHTINGS = {
    "source": "every source weighs the same",
    "source_label": "every source weighs the same, and within a source its refusals and its answers weigh half each "
                    "(a source of one label: its replies the same)",
    "reply": "every reply weighs the same",
}
GRID = tuple((c, weighting) for weighting in WEIGHTINGS for c in (1.0, 0.3, 0.1, 3.0))
MIN_WEIGHT = 0.01  # smaller weights are dropped from the shipped file


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_sources(data: Path = DATA) -> tuple[dict[str, list[dict]], list[str]]:
    """(source name -> rows, names of the sources whose file is not in ``data``)."""
    sources, missing = {}, []
    for name, path in SOURCES.items():
        if (data / path).is_file():
            sources[name] = read_jsonl(data / path)
        else:
            missing.append(name)
    return sources, missing


def print_missing(missing: list[str], data: Path) -> None:
    """A note for each source of :func:`load_sources` whose file is not in ``data``."""
    for name in missing:
        how = " (scripts/prepare_refusal_sources.py prepares it)" if name in PUBLIC_SOURCES else ""
        print(f"note: source '{name}' left out: no {data / SOURCES[name]}{how}")


def featurise(rows: list[dict]) -> list[dict]:
    return [dict.fromkeys(sorted(refusal_model.features(row["text"])), 1) for row in rows]


def sample_weights(labels: list[np.ndarray], weighting: str) -> np.ndarray | None:
    """Per-reply weights (mean 1) of the sources' ``labels`` under ``weighting`` (:data:`WEIGHTINGS`);
    None for every reply the same."""
    if weighting == "reply":
        return None
    parts = []
    for truth in labels:
        refusals = int(truth.sum())
        if weighting == "source_label" and 0 < refusals < len(truth):
            parts.append(np.where(truth, 0.5 / refusals, 0.5 / (len(truth) - refusals)))
        else:
            parts.append(np.full(len(truth), 1.0 / len(truth)))
    weight = np.concatenate(parts)
    return weight * (len(weight) / weight.sum())


def fit(features: dict[str, list[dict]], labels: dict[str, np.ndarray], names: list[str], c: float,
        weighting: str) -> tuple[DictVectorizer, LogisticRegression]:
    """A regression on the sources ``names``, replies weighted by ``weighting`` (:data:`WEIGHTINGS`)."""
    x = [f for name in names for f in features[name]]
    y = np.concatenate([labels[name] for name in names])
    weight = sample_weights([labels[name] for name in names], weighting)
    vectorizer = DictVectorizer()
    model = LogisticRegression(C=c, max_iter=5000).fit(vectorizer.fit_transform(x), y, sample_weight=weight)
    return vectorizer, model


def logits(vectorizer, model, features: list[dict]) -> np.ndarray:
    return model.decision_function(vectorizer.transform(features))


def scores(said: np.ndarray, truth: np.ndarray) -> dict:
    """Accuracy, precision and recall of the refusal decisions; precision is None when no reply is called
    a refusal, and both are None for a source without refusals (answers only: accuracy alone)."""
    tp, fp, positives = int((said & truth).sum()), int((said & ~truth).sum()), int(truth.sum())
    return {"n": int(len(truth)), "accuracy": float((said == truth).mean()),
            "precision": tp / (tp + fp) if tp + fp and positives else None,
            "recall": tp / positives if positives else None}


def leave_one_source_out(features, labels, c: float, weighting: str) -> tuple[dict, dict]:
    """(source -> held-out scores, source -> held-out logits); a source is scored by a model trained on the
    sources of the other releases (:data:`RELEASES`)."""
    table, held_logits = {}, {}
    for held in features:
        others = [name for name in features if RELEASES.get(name, name) != RELEASES.get(held, held)]
        vectorizer, model = fit(features, labels, others, c, weighting)
        held_logits[held] = logits(vectorizer, model, features[held])
        table[held] = scores(held_logits[held] >= 0, labels[held])
    return table, held_logits


def platt(held_logits: dict, labels: dict) -> tuple[float, float]:
    """``(a, b)`` with P = sigmoid(a * z + b) fitted on the held-out logits (every source weighing the same)."""
    z = np.concatenate([held_logits[name] for name in held_logits]).reshape(-1, 1)
    y = np.concatenate([labels[name] for name in held_logits])
    weight = sample_weights([labels[name] for name in held_logits], "source")
    scaler = LogisticRegression(C=1e6, max_iter=1000).fit(z, y, sample_weight=weight)
    return float(scaler.coef_[0][0]), float(scaler.intercept_[0])


def reliability(probabilities: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[tuple]:
    """(bin low, bin high, replies, mean predicted P, observed refusal share) per non-empty bin."""
    rows = []
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        inside = (probabilities >= low) & ((probabilities < high) | (k == bins - 1))
        if inside.any():
            rows.append((low, high, int(inside.sum()), float(probabilities[inside].mean()), float(truth[inside].mean())))
    return rows


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def print_table(table: dict, sources: dict) -> None:
    for name, row in table.items():
        models = sorted({r.get("model", "") for r in sources[name]} - {""}) or ["own writing"]
        writers = "; ".join(models) if len(models) <= 3 else f"{len(models)} models: {', '.join(models[:3])}, ..."
        precision, recall = (f"{row[k]:.3f}" if row[k] is not None else "  -  " for k in ("precision", "recall"))
        print(f"  {name:20s} n={row['n']:5d}  accuracy={row['accuracy']:.3f}  precision={precision}  "
              f"recall={recall}  ({writers})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, help="fix C (default: chosen by leave-one-source-out over the grid)")
    parser.add_argument("--weighting", choices=tuple(WEIGHTINGS),
                        help="with --C: how replies weigh (default source; "
                        + "; ".join(f"{name}: {meaning}" for name, meaning in WEIGHTINGS.items()) + ")")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="folder of the labelled sets, laid out as tests/data (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=refusal_model.WEIGHTS)
    args = parser.parse_args(argv)

    if args.C is not None and args.C <= 0:
        parser.error(f"--C must be positive, not {args.C:g}")
    if args.weighting and args.C is None:
        parser.error("--weighting needs --C (without both, the grid chooses)")
    sources, missing = load_sources(args.data)
    if len(sources) < 2:
        parser.error(f"leave-one-source-out needs two labelled sets or more; {args.data} has {len(sources)}")
    print_missing(missing, args.data)
    features = {name: featurise(rows) for name, rows in sources.items()}
    labels = {name: np.array([bool(row["refusal"]) for row in rows]) for name, rows in sources.items()}
    grid = GRID if args.C is None else ((args.C, args.weighting or "source"),)
    results = {}
    for c, weighting in grid:
        table, held = leave_one_source_out(features, labels, c, weighting)
        results[(c, weighting)] = (table, held)
        mean = sum(row["accuracy"] for row in table.values()) / len(table)
        print(f"C={c:g} weighting={weighting}: mean leave-one-source-out accuracy {mean:.3f}")
    best = max(grid, key=lambda key: sum(r["accuracy"] for r in results[key][0].values()))
    table, held = results[best]
    a, b = platt(held, labels)
    print(f"chosen C={best[0]:g} weighting={best[1]}; Platt scaling a={a:.3f} b={b:.3f}; held-out sources:")
    print_table(table, sources)

    vectorizer, model = fit(features, labels, list(features), *best)
    weights = {name: round(float(a * w), 4) for name, w in zip(vectorizer.get_feature_names_out(), model.coef_[0])
               if abs(a * w) >= MIN_WEIGHT}
    total = sum(len(rows) for rows in sources.values())
    payload = {"trained_on": f"{' + '.join(sources)} ({total} replies)", "C": best[0], "weighting": best[1],
               "platt": [round(a, 4), round(b, 4)], "bias": round(float(a * model.intercept_[0] + b), 4),
               "leave_one_source_out": table, "weights": dict(sorted(weights.items()))}
    args.out.write_text(json.dumps(payload, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(weights)} weights to {args.out}")
    return 0 if not math.isnan(a) else 1


if __name__ == "__main__":
    sys.exit(main())
