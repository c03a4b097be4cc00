"""Train the refusal detector's learned stage on the development half of the labelled corpus.

Reads ``tests/data/refusal_corpus.jsonl`` (rows with ``"split": "dev"`` only; the ``"test"`` half
stays frozen for ``bench/bench_refusal_detector.py``), fits a logistic regression over the feature
names of ``mmpriv_tasks.scoring.refusal_model.features``, prints its 5-fold cross-validated
accuracy on the development half, and writes the weights to
``mmpriv_tasks/scoring/refusal_weights.json`` (pure-Python inference; scikit-learn, which lm-eval
already installs, is needed only here). Deterministic: the same corpus gives the same file.

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

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "refusal_corpus.jsonl"
MIN_WEIGHT = 0.01  # smaller weights are dropped from the shipped file


def development_rows(path: Path = CORPUS) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if row["split"] == "dev"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=3.0, help="inverse L2 regularisation strength")
    parser.add_argument("--out", type=Path, default=refusal_model.WEIGHTS)
    args = parser.parse_args(argv)

    rows = development_rows()
    features = [dict.fromkeys(sorted(refusal_model.features(row["text"])), 1) for row in rows]
    labels = np.array([bool(row["refusal"]) for row in rows])
    model = make_pipeline(DictVectorizer(), LogisticRegression(C=args.C, max_iter=5000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    cv = cross_val_score(model, features, labels, cv=folds)
    print(f"development half: {len(rows)} replies, 5-fold CV accuracy {cv.mean():.3f} (+/- {cv.std():.3f})")

    model.fit(features, labels)
    vectorizer, regression = model.steps[0][1], model.steps[1][1]
    weights = {name: round(float(w), 4) for name, w in zip(vectorizer.get_feature_names_out(), regression.coef_[0])
               if abs(w) >= MIN_WEIGHT}
    payload = {"trained_on": f"{CORPUS.name} split=dev ({len(rows)} replies)", "C": args.C,
               "bias": round(float(regression.intercept_[0]), 4), "weights": dict(sorted(weights.items()))}
    args.out.write_text(json.dumps(payload, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(weights)} weights to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
