"""Train the refusal detector's learned stage on every labelled set except the frozen one.

Trains on ``tests/data/refusal_corpus.jsonl`` (both halves), ``refusal_previous.jsonl``,
``refusal_unseen_general.jsonl``, ``refusal_frozen_general_v2.jsonl`` (frozen for the previous
detector) and ``refusal_train_extra.jsonl``; ``refusal_frozen_general_v3.jsonl`` stays frozen for
``bench/bench_refusal_detector.py``. Fits a logistic regression over the feature names of
``mmpriv_tasks.scoring.refusal_model.features``, choosing the inverse regularisation strength C by
5-fold cross-validated accuracy on the training rows (printed; the smallest C within ``CV_SLACK``
of the best), and writes the weights to
``mmpriv_tasks/scoring/refusal_weights.json`` (pure-Python inference; scikit-learn, which lm-eval
already installs, is needed only here). Deterministic: the same sets give the same file.

    python scripts/train_refusal_detector.py [--C 3] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from mmpriv_tasks.scoring import refusal_model

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
TRAINING_SETS = ("refusal_corpus.jsonl", "refusal_previous.jsonl", "refusal_unseen_general.jsonl",
                 "refusal_frozen_general_v2.jsonl", "refusal_train_extra.jsonl")
C_GRID = (0.3, 1.0, 3.0, 10.0)
CV_SLACK = 0.005  # the strongest regularisation whose CV accuracy is within this of the best wins
MIN_WEIGHT = 0.01  # smaller weights are dropped from the shipped file


def training_rows(data: Path = DATA) -> list[dict]:
    return [json.loads(line) for name in TRAINING_SETS
            for line in (data / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, help=f"inverse L2 regularisation strength (default: best of {C_GRID} by CV)")
    parser.add_argument("--out", type=Path, default=refusal_model.WEIGHTS)
    args = parser.parse_args(argv)

    rows = training_rows()
    features = [dict.fromkeys(sorted(refusal_model.features(row["text"])), 1) for row in rows]
    labels = np.array([bool(row["refusal"]) for row in rows])
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    cv = {}
    for c in ((args.C,) if args.C else C_GRID):
        model = make_pipeline(DictVectorizer(), LogisticRegression(C=c, max_iter=5000))
        cv[c] = cross_val_score(model, features, labels, cv=folds).mean()
        print(f"{len(rows)} training replies, C={c:g}: 5-fold CV accuracy {cv[c]:.3f}")
    best = min(c for c in cv if cv[c] >= max(cv.values()) - CV_SLACK)

    model = make_pipeline(DictVectorizer(), LogisticRegression(C=best, max_iter=5000)).fit(features, labels)
    vectorizer, regression = model.steps[0][1], model.steps[1][1]
    weights = {name: round(float(w), 4) for name, w in zip(vectorizer.get_feature_names_out(), regression.coef_[0])
               if abs(w) >= MIN_WEIGHT}
    payload = {"trained_on": f"{' + '.join(TRAINING_SETS)} ({len(rows)} replies)", "C": best,
               "bias": round(float(regression.intercept_[0]), 4), "weights": dict(sorted(weights.items()))}
    args.out.write_text(json.dumps(payload, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"C={best:g}: wrote {len(weights)} weights to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
