"""The one drift decision of the platform: the reporting DAG's drift report and the retrain DAG's
trigger both call :func:`compute_drift`, so "drift" means the same thing in both.

Definitions:

* **feature drift**: the share of the 13 model features whose distribution drifted; drift when it
  is above ``feature_drift_threshold`` (0.3: more than 30 % of the features). Counts and shares are
  over the features alone, never over the label or the model's outputs.
* **prediction drift**: the drift score of the model's predicted probability, flagged at or above
  ``prediction_drift_threshold``; the issued label's score is reported beside it.
* **label drift** (prior shift): the score of the true label, reported on its own line when both
  frames carry labels; it never decides, because the newest predictions have no label yet.

The status is ``drift`` when feature drift or prediction drift is flagged, else ``no_drift``.
Each column is tested with a distance that does not shrink with sample size: numbers with the
Wasserstein distance normed by the reference's standard deviation, categories and 0/1 labels
with the Jensen-Shannon distance; a column drifted when its distance is >= 0.1 (Evidently's
default for both). Evidently would switch to p-value tests for references of 1,000 rows or
fewer, whose false alarms grow with the current sample; pinning the methods keeps one meaning
for every reference size.

The decision is never made on too few rows nor on a NaN share: fewer than ``min_rows`` rows in
the current (or the reference) frame, no comparable column, or a NaN share give
``not_enough_data`` with the reason. Columns that hold one and the same value in both frames
(or are empty in either) are left out of the computation and listed in ``skipped_columns``:
they cannot have drifted, and p-value tests turn them into NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from mindpulse import contract as c
from mindpulse.monitoring import frames as fr
from mindpulse.settings import Settings, get_settings

Status = Literal["drift", "no_drift", "not_enough_data"]
NUMERIC_METHOD = "wasserstein"
CATEGORICAL_METHOD = "jensenshannon"


@dataclass(frozen=True)
class DriftDecision:
    """Whether the current data drifted from the reference, and why."""

    status: Status
    share: float | None  # share of the compared model features that drifted; None when not decided
    n_rows: int  # current rows (before sampling)
    n_drifted: int  # model features that drifted
    n_features: int  # model features compared (at most 13; never the label or the model's outputs)
    reason: str
    threshold: float = 0.3  # feature drift: share above which the features drifted
    min_rows: int = 500
    n_reference_rows: int = 0
    drifted_columns: tuple[str, ...] = ()  # the drifted model features
    compared_columns: tuple[str, ...] = ()  # every column compared (features, then label and outputs)
    skipped_columns: dict[str, str] = field(default_factory=dict)
    feature_share: float | None = None  # the same as ``share`` (kept under the name the retrain step used)
    prediction_threshold: float = 0.1
    #: {"score", "drifted", "label_score", "label_drifted"}: the predicted probability (decides) and the issued label
    prediction_drift: dict[str, Any] | None = None
    #: {"score", "drifted"}: the true label (prior shift), reported only
    label_drift: dict[str, Any] | None = None

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    @property
    def feature_drifted(self) -> bool | None:
        return None if self.share is None else self.share > self.threshold

    @property
    def prediction_drifted(self) -> bool | None:
        return None if not self.prediction_drift else self.prediction_drift.get("drifted")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drifted_columns"] = list(self.drifted_columns)
        out["compared_columns"] = list(self.compared_columns)
        out["feature_drifted"] = self.feature_drifted
        out["prediction_drifted"] = self.prediction_drifted
        return out

    def lines(self) -> list[str]:
        """The decision in three lines: features, prediction, label (each on its own)."""
        if self.share is None:
            return [self.reason]
        out = [f"Feature drift: {self.n_drifted} of {self.n_features} model features drifted (share {self.share:.2f}, "
               f"{'above' if self.feature_drifted else 'not above'} {self.threshold:.2f})"
               + (f": {', '.join(self.drifted_columns)}" if self.drifted_columns else "") + "."]
        p = self.prediction_drift
        if p and p.get("score") is not None:
            out.append(f"Prediction drift: probability score {p['score']:.3f} ({'at or above' if p['drifted'] else 'below'} "
                       f"{self.prediction_threshold:.2f})" + (f"; issued label score {p['label_score']:.3f}"
                                                              if p.get("label_score") is not None else "") + ".")
        else:
            out.append("Prediction drift: not measured (no model outputs in both frames).")
        lab = self.label_drift
        out.append("Label drift: not measured (too few labelled rows on one side)." if not lab or lab.get("score") is None
                   else f"Label drift: score {lab['score']:.3f} ({'drifted' if lab['drifted'] else 'not drifted'}; reported, never decides).")
        return out


@dataclass
class DriftComputation:
    """A decision plus what produced it: the Evidently snapshot and each column's figures."""

    decision: DriftDecision
    snapshot: Any = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference_sample: fr.Sample | None = None
    current_sample: fr.Sample | None = None


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float | None = None,
    prediction_threshold: float | None = None,
    min_rows: int | None = None,
    sample_cap: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
) -> DriftDecision:
    """Drift decision of ``current`` against ``reference`` (canonical frames); no files written."""
    return compute_drift(reference, current, threshold=threshold, prediction_threshold=prediction_threshold,
                         min_rows=min_rows, sample_cap=sample_cap, seed=seed, settings=settings,
                         run_when_short=False).decision


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float | None = None,
    prediction_threshold: float | None = None,
    min_rows: int | None = None,
    sample_cap: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
    run_when_short: bool = False,
) -> DriftComputation:
    """Run Evidently's drift preset and decide; with ``run_when_short`` Evidently also runs below ``min_rows`` (for the HTML).

    ``threshold``: feature drift share (default ``feature_drift_threshold``); ``prediction_threshold``:
    the probability's drift score (default ``prediction_drift_threshold``).
    """
    settings = settings or get_settings()
    threshold = settings.feature_drift_threshold if threshold is None else float(threshold)
    prediction_threshold = (settings.prediction_drift_threshold if prediction_threshold is None
                            else float(prediction_threshold))
    min_rows = settings.drift_min_rows if min_rows is None else int(min_rows)
    cap = settings.monitoring_sample_cap if sample_cap is None else int(sample_cap)
    seed = settings.seed if seed is None else int(seed)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: got {threshold}, expected a share from 0 (excluded) to 1")
    if not prediction_threshold > 0:
        raise ValueError(f"prediction_threshold: got {prediction_threshold}, expected a drift score above 0")
    if min_rows < 1:
        raise ValueError(f"min_rows: got {min_rows}, expected a whole number of at least 1")
    if cap < 1:
        raise ValueError(f"sample_cap: got {cap}, expected a whole number of at least 1")

    columns = fr.compared_columns(reference, current)
    n_rows, n_ref = len(current), len(reference)
    base = dict(threshold=threshold, prediction_threshold=prediction_threshold, min_rows=min_rows,
                n_reference_rows=n_ref, n_rows=n_rows)

    short = _too_few_rows(n_rows, n_ref, min_rows)
    if short and (not run_when_short or n_rows == 0 or n_ref == 0):
        return DriftComputation(DriftDecision("not_enough_data", None, n_drifted=0,
                                              n_features=sum(col in c.FEATURES for col in columns),
                                              reason=short, compared_columns=tuple(columns), **base))

    ref, ref_sample = fr.sample(reference, cap, seed)
    cur, cur_sample = fr.sample(current, cap, seed)
    ref, cur = fr.prepare(ref, columns), fr.prepare(cur, columns)
    skipped = _skipped_columns(ref, cur, columns)
    compared = [col for col in columns if col not in skipped]
    features = [col for col in compared if col in c.FEATURES]
    if not features:
        reason = "no column of the model features can be compared: " + "; ".join(f"{k} {v}" for k, v in skipped.items())
        return DriftComputation(DriftDecision("not_enough_data", None, n_drifted=0, n_features=0, reason=reason,
                                              skipped_columns=skipped, compared_columns=tuple(compared), **base),
                                reference_sample=ref_sample, current_sample=cur_sample)

    snapshot = _run_evidently(ref[compared], cur[compared], compared, threshold)
    _, evidently_share, per_column = _read_snapshot(snapshot.dict())
    drifted = tuple(col for col in features if per_column.get(col, {}).get("drifted"))
    share = len(drifted) / len(features)
    prediction = _column_drift(per_column, fr.PROBABILITY, prediction_threshold)
    if prediction is not None:
        issued = _column_drift(per_column, fr.PREDICTION, None) or {}
        prediction.update(label_score=issued.get("score"), label_drifted=issued.get("drifted"))
    label = _column_drift(per_column, c.TARGET, None)
    common = dict(n_features=len(features), compared_columns=tuple(compared), skipped_columns=skipped, **base)

    if short:  # Evidently ran for the HTML only; its per-column verdicts are noise at this size
        decision = DriftDecision("not_enough_data", None, n_drifted=0, reason=short, **common)
    elif evidently_share is None or math.isnan(evidently_share):
        decision = DriftDecision("not_enough_data", None, n_drifted=len(drifted), drifted_columns=drifted, reason=(
            f"the drifted share came out as NaN over {', '.join(compared)}; no decision is made on it"), **common)
    else:
        feature_flag = share > threshold
        prediction_flag = bool(prediction and prediction["drifted"])
        status: Status = "drift" if feature_flag or prediction_flag else "no_drift"
        why = [f"{len(drifted)} of {len(features)} model features drifted (share {share:.2f} "
               f"{'>' if feature_flag else '<='} {threshold:.2f})"]
        if prediction is not None:
            why.append(f"prediction drift {prediction['score']:.3f} {'>=' if prediction_flag else '<'} "
                       f"{prediction_threshold:.2f}")
        names = f": {', '.join(drifted)}" if drifted else ""
        reason = f"{status}: " + "; ".join(why) + f" on {n_rows} current rows{names}"
        decision = DriftDecision(status, share, n_drifted=len(drifted), drifted_columns=drifted, reason=reason,
                                 feature_share=share, prediction_drift=prediction, label_drift=label, **common)
    return DriftComputation(decision, snapshot, per_column, ref_sample, cur_sample)


def _column_drift(per_column: dict[str, dict[str, Any]], column: str, threshold: float | None) -> dict[str, Any] | None:
    """One column's score and verdict (at ``threshold`` when given, else the column test's own)."""
    figures = per_column.get(column)
    if not figures or figures.get("score") is None:
        return None
    score = float(figures["score"])
    drifted = score >= threshold if threshold is not None else bool(figures.get("drifted"))
    return {"score": score, "drifted": bool(drifted)}


def _too_few_rows(n_rows: int, n_ref: int, min_rows: int) -> str | None:
    why = "below that, drift tests flag undrifted columns by chance"
    if n_rows < min_rows:
        return f"not enough data: the current data has {n_rows} rows; a drift decision needs at least {min_rows} (drift_min_rows); {why}"
    if n_ref < min_rows:
        return f"not enough data: the reference has {n_ref} rows; a drift decision needs at least {min_rows} (drift_min_rows); {why}"
    return None


def _skipped_columns(ref: pd.DataFrame, cur: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    skipped: dict[str, str] = {}
    for col in columns:
        if ref[col].notna().sum() == 0:
            skipped[col] = "is empty in the reference"
        elif cur[col].notna().sum() == 0:
            skipped[col] = "is empty in the current data"
        else:
            values = set(ref[col].dropna().unique()) | set(cur[col].dropna().unique())
            if len(values) == 1:
                skipped[col] = f"holds the single value {next(iter(values))!r} in both frames"
    return skipped


def _run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, columns: list[str], threshold: float) -> Any:
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = fr.data_definition(columns)
    report = Report([DataDriftPreset(columns=columns, drift_share=threshold,
                                     num_method=NUMERIC_METHOD, cat_method=CATEGORICAL_METHOD)])
    return report.run(current_data=Dataset.from_pandas(cur, data_definition=definition),
                      reference_data=Dataset.from_pandas(ref, data_definition=definition))


def _read_snapshot(result: dict[str, Any]) -> tuple[float, float | None, dict[str, dict[str, Any]]]:
    """DriftedColumnsCount's count and share, and each ValueDrift's method, score and verdict."""
    count, share = 0.0, None
    per_column: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config, value = metric.get("config", {}), metric.get("value")
        kind = str(config.get("type", ""))
        if kind.endswith(":DriftedColumnsCount"):
            count, share = float(value["count"]), float(value["share"])
        elif kind.endswith(":ValueDrift"):
            score = None if value is None else float(value)
            limit = float(config["threshold"])
            method = str(config.get("method", ""))
            if score is None or math.isnan(score):
                drifted = False
            elif "p_value" in method:
                drifted = score < limit
            else:
                drifted = score >= limit
            per_column[config["column"]] = {"method": method, "score": score, "threshold": limit, "drifted": drifted}
    return count, share, per_column
