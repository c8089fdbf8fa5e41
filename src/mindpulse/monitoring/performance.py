"""Classification figures of labelled predictions, overall and per group (gender, age band).

Evidently gives the overall figures of the HTML report; the per-group figures are computed here
with scikit-learn, because Evidently 0.7.23's ``GroupBy`` returns the overall value for every
group (checked: accuracy by gender gave the same number for Male and Female).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mindpulse import contract as c
from mindpulse.monitoring.frames import PREDICTION, PROBABILITY, require_columns

#: Age bands of the per-group figures (upper bound inclusive, label).
AGE_BANDS: tuple[tuple[float, str], ...] = ((20, "15-20"), (25, "21-25"), (30, "26-30"), (float("inf"), "31+"))
GROUP_COLUMNS: tuple[str, ...] = ("gender", "age_band")
#: Groups with fewer labelled rows are still reported, but flagged and left out of the gaps.
MIN_GROUP_ROWS = 30
FIGURES: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")


def age_band(age: pd.Series) -> pd.Series:
    """The age band of each row (15-20, 21-25, 26-30, 31+)."""
    edges = [-np.inf] + [upper for upper, _ in AGE_BANDS]
    return pd.cut(age.astype(float), bins=edges, labels=[name for _, name in AGE_BANDS]).astype(object)


def labelled_rows(frame: pd.DataFrame, name: str = "current") -> tuple[pd.DataFrame, int]:
    """Rows with a label, a prediction and a probability, in clean dtypes; and how many rows were left out."""
    require_columns(frame, (c.TARGET, PREDICTION, PROBABILITY), name)
    keep = frame[c.TARGET].notna() & frame[PREDICTION].notna() & frame[PROBABILITY].notna()
    rows = frame.loc[keep].copy()  # the caller's index, so an error names the caller's row
    for column in (c.TARGET, PREDICTION):
        values = pd.to_numeric(rows[column], errors="coerce")
        bad = rows.loc[~values.isin([0, 1]), column]
        if len(bad):
            raise ValueError(f"{name}: column '{column}' has {_plain(bad.iloc[0])!r} at index {bad.index[0]}, expected 0 or 1")
        rows[column] = values.astype("int64")
    proba = pd.to_numeric(rows[PROBABILITY], errors="coerce")
    bad = rows.loc[~proba.between(0, 1), PROBABILITY]
    if len(bad):
        raise ValueError(f"{name}: column '{PROBABILITY}' has {_plain(bad.iloc[0])!r} at index {bad.index[0]}, "
                         "expected a number from 0 to 1")
    rows[PROBABILITY] = proba.astype("float64")
    return rows.reset_index(drop=True), int(len(frame) - len(rows))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Counts of the 2x2 confusion matrix; ``matrix`` rows are the true class 0/1, columns the predicted class."""
    tn = int(np.sum((y_true == 0) & (y_pred == 0)))
    fp = int(np.sum((y_true == 0) & (y_pred == 1)))
    fn = int(np.sum((y_true == 1) & (y_pred == 0)))
    tp = int(np.sum((y_true == 1) & (y_pred == 1)))
    return {"tn": tn, "fp": fp, "fn": fn, "tp": tp, "matrix": [[tn, fp], [fn, tp]]}


def classification_figures(rows: pd.DataFrame) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (of the issued labels), ROC-AUC (of the probabilities) and counts, by scikit-learn."""
    from sklearn import metrics as m

    y, pred, proba = rows[c.TARGET].to_numpy(), rows[PREDICTION].to_numpy(), rows[PROBABILITY].to_numpy()
    both_classes = len(np.unique(y)) == 2
    return {
        "rows": int(len(rows)),
        "positive_rate": float(y.mean()) if len(y) else None,
        "predicted_positive_rate": float(pred.mean()) if len(pred) else None,
        "accuracy": float(m.accuracy_score(y, pred)) if len(y) else None,
        "precision": float(m.precision_score(y, pred, zero_division=0)) if len(y) else None,
        "recall": float(m.recall_score(y, pred, zero_division=0)) if len(y) else None,
        "f1": float(m.f1_score(y, pred, zero_division=0)) if len(y) else None,
        "roc_auc": float(m.roc_auc_score(y, proba)) if both_classes else None,
        "confusion": confusion(y, pred),
    }


def group_figures(rows: pd.DataFrame, *, min_group_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """Figures per gender and per age band, and for each the largest gap between groups with enough rows."""
    require_columns(rows, ("gender", "age"), "current")
    grouping = {"gender": rows["gender"].astype(object), "age_band": age_band(rows["age"])}
    out: dict[str, Any] = {}
    for name, keys in grouping.items():
        groups: dict[str, Any] = {}
        for key in sorted(keys.dropna().unique(), key=str):
            figures = classification_figures(rows.loc[keys == key])
            figures["too_few_rows"] = figures["rows"] < min_group_rows
            groups[str(key)] = figures
        out[name] = {"groups": groups, "gaps": _gaps(groups), "min_group_rows": min_group_rows}
    return out


def _gaps(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """For each figure, the largest minus the smallest value among groups with enough rows, and the worst group."""
    gaps: dict[str, Any] = {}
    for figure in FIGURES:
        values = {k: g[figure] for k, g in groups.items() if not g["too_few_rows"] and g[figure] is not None}
        if len(values) >= 2:
            worst = min(values, key=values.get)
            gaps[figure] = {"gap": max(values.values()) - min(values.values()), "worst_group": worst}
    return gaps


#: The column naming the model version that produced a row's prediction.
MODEL_VERSION = "model_version"
#: How rows without a model version (labelled rows sent without a prediction) are counted.
NO_VERSION = "(none)"


def version_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per model version that produced their prediction, most rows first (no column: empty)."""
    if MODEL_VERSION not in frame.columns:
        return {}
    versions = frame[MODEL_VERSION].astype(object).where(frame[MODEL_VERSION].notna(), NO_VERSION)
    counts = versions.value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def figures_by_version(rows: pd.DataFrame) -> dict[str, dict[str, Any]] | None:
    """Classification figures of labelled rows per model version when they mix versions (None for one version).

    Overall figures of rows scored by different models describe no model; each version's own
    rows say how that model did.
    """
    counts = version_counts(rows)
    if len(counts) < 2:
        return None
    versions = rows[MODEL_VERSION].astype(object).where(rows[MODEL_VERSION].notna(), NO_VERSION)
    return {version: classification_figures(rows.loc[versions == version]) for version in counts}
