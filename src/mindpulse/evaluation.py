"""Evaluation: the metrics every model is judged by, and the choice of its decision threshold.

Imports nothing else of the package's model life cycle (training, holdout, gate, registry
all import this module, never the other way round).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, precision_score, recall_score,
                             roc_auc_score)

from mindpulse import contract as c

THRESHOLD_METHOD = "max_f1_out_of_fold"


# --- Metrics ----------------------------------------------------------------------------------

def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """ROC-AUC, Brier score, and accuracy/F1/precision/recall at ``threshold``."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    labels = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "accuracy": float(accuracy_score(y, labels)),
        "f1": float(f1_score(y, labels, zero_division=0)),
        "precision": float(precision_score(y, labels, zero_division=0)),
        "recall": float(recall_score(y, labels, zero_division=0)),
        "brier": float(brier_score_loss(y, p)),
        "rows": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """The model's metrics on labelled canonical rows, at its own threshold."""
    y = labels_of(frame)
    return classification_metrics(y, model.predict_proba(frame), model.threshold)


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold that maximises F1 on out-of-fold probabilities (grid of 0.01)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    positive = np.asarray(y, dtype=int) == 1
    predicted = np.asarray(p, dtype=float)[None, :] >= grid[:, None]
    tp = (predicted & positive).sum(axis=1)
    f1 = 2 * tp / np.maximum(predicted.sum(axis=1) + positive.sum(), 1)
    return float(grid[int(np.argmax(f1))])


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 target of a canonical frame; a clear error when labels are missing."""
    if c.TARGET not in frame.columns:
        raise ValueError(f"training data: no {c.TARGET!r} column (the 'Depression' label is needed to train)")
    target = frame[c.TARGET]
    missing = int(target.isna().sum())
    if missing:
        raise ValueError(f"training data: {missing} row(s) without a {c.TARGET!r} label; expected 0 or 1 in every row")
    return target.astype(int).to_numpy()
