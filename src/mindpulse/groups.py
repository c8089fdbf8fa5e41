"""The groups a model is judged and described on: gender, age band, and any column the settings name.

One definition, used by the promotion gate (a challenger must not get worse for any group it
can be judged on) and by the model card (each version's metrics per group). A group smaller
than ``GROUP_MIN_SIZE`` rows (or without both outcomes) is reported, never judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Age bands of the data card (its depression rate falls with age: 0.72 at 18-20, 0.28 at 36+).
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("18-20", -np.inf, 21), ("21-23", 21, 24), ("24-26", 24, 27),
    ("27-30", 27, 31), ("31-35", 31, 36), ("36+", 36, np.inf),
)

#: The attributes every model is judged on; the settings' ``GROUP_COLUMNS`` adds canonical columns.
DEFAULT_ATTRIBUTES: tuple[str, ...] = ("gender", "age_band")


def age_band(age: pd.Series) -> pd.Series:
    """The data card's age band of each age ("18-20" ... "36+"); missing ages give "unknown"."""
    values = pd.to_numeric(age, errors="coerce")
    labels = pd.Series("unknown", index=age.index, dtype=object)
    for name, low, high in AGE_BANDS:
        labels[(values >= low) & (values < high)] = name
    return labels


def attributes(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The group attributes: the defaults, then the extra columns in the order given, once each."""
    seen: list[str] = list(DEFAULT_ATTRIBUTES)
    for name in extra:
        if name and name not in seen:
            seen.append(name)
    return tuple(seen)


def group_labels(frame: pd.DataFrame, extra: Iterable[str] = ()) -> pd.DataFrame:
    """One column per attribute holding each row's group (as text), aligned with ``frame``.

    ``age_band`` is derived from ``age``; every other attribute is a canonical column of the
    frame. A missing column is a KeyError naming it and the columns there are.
    """
    out = pd.DataFrame(index=frame.index)
    for name in attributes(extra):
        if name == "age_band":
            if "age" not in frame.columns:
                raise KeyError(f"group attribute 'age_band' needs the column 'age'; the data has {sorted(frame.columns)}")
            out[name] = age_band(frame["age"])
        else:
            if name not in frame.columns:
                raise KeyError(f"group attribute {name!r} is not a column of the data; it has {sorted(frame.columns)}")
            out[name] = frame[name].astype(object).where(frame[name].notna(), "unknown").astype(str)
    return out


@dataclass(frozen=True)
class Group:
    """One group: its attribute, its value, and the positions of its rows."""

    attribute: str
    value: str
    rows: np.ndarray

    @property
    def size(self) -> int:
        return int(self.rows.size)

    @property
    def name(self) -> str:
        return f"{self.attribute}={self.value}"


def iter_groups(labels: pd.DataFrame) -> Iterator[Group]:
    """Every (attribute, value) group of ``labels`` with the positions of its rows, in a stable order."""
    for attribute in labels.columns:
        column = labels[attribute].to_numpy()
        for value in sorted(set(column)):
            yield Group(attribute, str(value), np.flatnonzero(column == value))


# --- one model's metrics per group (the model card) -------------------------------------------

#: The confidence and resamples of the ROC-AUC intervals (the gate's own).
CONFIDENCE = 0.95
RESAMPLES = 1000
#: Resamples scored at once: bounds the memory of the bootstrap (resamples x rows floats).
_CHUNK = 200


def auc_interval(y: np.ndarray, p: np.ndarray, *, seed: int = 0, resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile interval of one model's ROC-AUC over stratified bootstrap resamples (seeded).

    Positives and negatives are drawn with replacement separately (their counts kept), as the
    gate's paired interval does. A resample is a weight per row, so the whole bootstrap costs
    one sort: O(resamples x rows). None when the rows do not hold both outcomes.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    positives, negatives = y == 1, y == 0
    n_pos, n_neg = int(positives.sum()), int(negatives.sum())
    if not n_pos or not n_neg:
        return None
    rng = np.random.default_rng(seed)
    order = np.argsort(p[negatives], kind="stable")
    sorted_neg = p[negatives][order]
    below = np.searchsorted(sorted_neg, p[positives], side="left")
    at_or_below = np.searchsorted(sorted_neg, p[positives], side="right")
    values = []
    for start in range(0, resamples, _CHUNK):
        count = min(_CHUNK, resamples - start)
        w_pos, w_neg = _draw_weights(rng, n_pos, count), _draw_weights(rng, n_neg, count)
        cumulative = np.hstack([np.zeros((count, 1)), np.cumsum(w_neg[:, order], axis=1)])
        score = 0.5 * (cumulative[:, below] + cumulative[:, at_or_below])  # ties count half
        values.append((w_pos * score).sum(axis=1) / (n_pos * n_neg))
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(values), [tail, 1 - tail])
    return float(low), float(high)


def _draw_weights(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """How many times each of ``n`` rows is drawn, per resample of ``n`` draws with replacement."""
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


@dataclass(frozen=True)
class GroupMetrics:
    """One model on one group's rows: size, outcomes, ROC-AUC with its interval, sensitivity at the threshold."""

    attribute: str
    group: str
    n: int
    positives: int
    judged: bool
    roc_auc: float | None
    interval: tuple[float, float] | None
    sensitivity: float | None
    specificity: float | None
    note: str


@dataclass(frozen=True)
class GroupReport:
    """Every group's metrics, and the largest ROC-AUC gap between two judged groups of one attribute."""

    attributes: tuple[str, ...]
    min_size: int
    groups: list[GroupMetrics]
    largest_gap: dict | None

    def to_dict(self) -> dict:
        return {"attributes": list(self.attributes), "min_size": self.min_size,
                "groups": [{**g.__dict__, "interval": list(g.interval) if g.interval else None} for g in self.groups],
                "largest_gap": self.largest_gap}


def group_metrics(frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float, *,
                  extra: Iterable[str] = (), min_size: int = 200, seed: int = 0,
                  resamples: int = RESAMPLES) -> GroupReport:
    """One model's scores ``p`` on labelled rows ``frame`` (labels ``y``), per group of every attribute.

    A group with fewer than ``min_size`` rows, or without both outcomes, is listed with its size
    and marked too small to judge (no ROC-AUC, no interval): a figure from a handful of rows
    would read as a finding. The largest gap is the widest ROC-AUC difference between two judged
    groups of the same attribute.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    if not (len(frame) == len(y) == len(p)):
        raise ValueError(f"scores: got {len(frame)} rows, {len(y)} labels and {len(p)} probabilities, expected equal counts")
    if min_size < 1:
        raise ValueError(f"min_size: got {min_size}, expected 1 or more")
    from mindpulse.gate import roc_auc

    labels = group_labels(frame.reset_index(drop=True), extra)
    predicted = p >= threshold
    out: list[GroupMetrics] = []
    for group in iter_groups(labels):
        gy, gp, flagged = y[group.rows], p[group.rows], predicted[group.rows]
        positives = int(gy.sum())
        negatives = group.size - positives
        sensitivity = float(flagged[gy == 1].mean()) if positives else None
        specificity = float((~flagged[gy == 0]).mean()) if negatives else None
        if group.size < min_size or not positives or not negatives:
            why = (f"too small to judge: {group.size} rows (fewer than {min_size})" if group.size < min_size
                   else f"too small to judge: only one outcome among its {group.size} rows")
            out.append(GroupMetrics(group.attribute, group.value, group.size, positives, False, None, None,
                                    sensitivity, specificity, why))
            continue
        # One seed per group, so adding a group elsewhere does not move this group's interval.
        group_seed = seed + sum(map(ord, group.name))
        out.append(GroupMetrics(group.attribute, group.value, group.size, positives, True, float(roc_auc(gy, gp)),
                                auc_interval(gy, gp, seed=group_seed, resamples=resamples), sensitivity, specificity, ""))
    return GroupReport(tuple(labels.columns), min_size, out, _largest_gap(out))


def _largest_gap(groups: list[GroupMetrics]) -> dict | None:
    best = None
    for attribute in dict.fromkeys(g.attribute for g in groups):
        judged = [g for g in groups if g.attribute == attribute and g.judged]
        if len(judged) < 2:
            continue
        high = max(judged, key=lambda g: g.roc_auc)
        low = min(judged, key=lambda g: g.roc_auc)
        gap = float(high.roc_auc - low.roc_auc)
        if best is None or gap > best["difference"]:
            best = {"attribute": attribute, "highest": high.group, "highest_roc_auc": high.roc_auc,
                    "lowest": low.group, "lowest_roc_auc": low.roc_auc, "difference": gap}
    return best
