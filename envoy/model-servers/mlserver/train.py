#!/usr/bin/env python3
"""Trains the small scikit-learn models MLServer serves in tests and writes them with joblib.

Iris ships inside scikit-learn (no download). Each version is a LogisticRegression with its own
regularisation, so the two versions are different models that agree on most inputs.

  train.py OUT_DIR VERSION...      # writes OUT_DIR/iris-VERSION/model.joblib for each version
"""
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# C (inverse regularisation strength) per version.
STRENGTH = {"v1": 1.0, "v2": 0.05}

out, versions = Path(sys.argv[1]), sys.argv[2:]
X, y = load_iris(return_X_y=True)
for version in versions:
    model = LogisticRegression(C=STRENGTH[version], max_iter=500).fit(X, y)
    folder = out / f"iris-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    print(f"{folder}/model.joblib: training accuracy {model.score(X, y):.3f}")
