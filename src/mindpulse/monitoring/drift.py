"""The drift decision the retrain trigger uses: the share of drifted columns against a threshold.

Columns compared: the 13 model features, plus the label ``depression`` and the model's
``prediction`` and ``probability`` whenever *both* frames carry them (prior shift and prediction
drift, as Evidently's own preset treats a target and a prediction). Each column is tested with a
distance that does not shrink with sample size: numbers with the Wasserstein distance normed by
the reference's standard deviation, categories and 0/1 labels with the Jensen-Shannon distance;
a column drifted when its distance is >= 0.1 (Evidently's default for both). Evidently would
switch to p-value tests for references of 1,000 rows or fewer, whose false alarms grow with the
current sample; pinning the methods keeps one meaning for every reference size.

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
    share: float | None  # share of compared columns that drifted; None when not decided
    n_rows: int  # current rows (before sampling)
    n_drifted: int
    n_features: int  # columns compared (features, plus label and model outputs when both frames have them)
    reason: str
    threshold: float = 0.3
    min_rows: int = 500
    n_reference_rows: int = 0
    drifted_columns: tuple[str, ...] = ()
    compared_columns: tuple[str, ...] = ()
    skipped_columns: dict[str, str] = field(default_factory=dict)
    feature_share: float | None = None  # the same share over the 13 features alone

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drifted_columns"] = list(self.drifted_columns)
        out["compared_columns"] = list(self.compared_columns)
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
    min_rows: int | None = None,
    sample_cap: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
) -> DriftDecision:
    """Drift decision of ``current`` against ``reference`` (canonical frames); no files written."""
    return compute_drift(reference, current, threshold=threshold, min_rows=min_rows, sample_cap=sample_cap,
                         seed=seed, settings=settings, run_when_short=False).decision


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float | None = None,
    min_rows: int | None = None,
    sample_cap: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
    run_when_short: bool = False,
) -> DriftComputation:
    """Run Evidently's drift preset and decide; with ``run_when_short`` Evidently also runs below ``min_rows`` (for the HTML)."""
    settings = settings or get_settings()
    threshold = settings.drift_share_threshold if threshold is None else float(threshold)
    min_rows = settings.drift_min_rows if min_rows is None else int(min_rows)
    cap = settings.monitoring_sample_cap if sample_cap is None else int(sample_cap)
    seed = settings.seed if seed is None else int(seed)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: got {threshold}, expected a share from 0 (excluded) to 1")
    if min_rows < 1:
        raise ValueError(f"min_rows: got {min_rows}, expected a whole number of at least 1")
    if cap < 1:
        raise ValueError(f"sample_cap: got {cap}, expected a whole number of at least 1")

    columns = fr.compared_columns(reference, current)
    n_rows, n_ref = len(current), len(reference)
    base = dict(threshold=threshold, min_rows=min_rows, n_reference_rows=n_ref, n_rows=n_rows)

    short = _too_few_rows(n_rows, n_ref, min_rows)
    if short and (not run_when_short or n_rows == 0 or n_ref == 0):
        return DriftComputation(DriftDecision("not_enough_data", None, n_drifted=0, n_features=len(columns),
                                              reason=short, compared_columns=tuple(columns), **base))

    ref, ref_sample = fr.sample(reference, cap, seed)
    cur, cur_sample = fr.sample(current, cap, seed)
    ref, cur = fr.prepare(ref, columns), fr.prepare(cur, columns)
    skipped = _skipped_columns(ref, cur, columns)
    compared = [col for col in columns if col not in skipped]
    if not compared:
        reason = "no column can be compared: " + "; ".join(f"{k} {v}" for k, v in skipped.items())
        return DriftComputation(DriftDecision("not_enough_data", None, n_drifted=0, n_features=0, reason=reason,
                                              skipped_columns=skipped, **base),
                                reference_sample=ref_sample, current_sample=cur_sample)

    snapshot = _run_evidently(ref[compared], cur[compared], compared, threshold)
    count, share, per_column = _read_snapshot(snapshot.dict())
    drifted = tuple(col for col in compared if per_column.get(col, {}).get("drifted"))
    features = [col for col in compared if col in c.FEATURES]
    feature_share = (sum(col in drifted for col in features) / len(features)) if features else None
    common = dict(n_features=len(compared), drifted_columns=drifted, compared_columns=tuple(compared),
                  skipped_columns=skipped, feature_share=feature_share, **base)

    if short:  # Evidently ran for the HTML only; its per-column verdicts are noise at this size
        common.update(drifted_columns=(), feature_share=None)
        decision = DriftDecision("not_enough_data", None, n_drifted=0, reason=short, **common)
    elif share is None or math.isnan(share):
        decision = DriftDecision("not_enough_data", None, n_drifted=len(drifted), reason=(
            f"the drifted share came out as NaN over {', '.join(compared)}; no decision is made on it"), **common)
    else:
        status: Status = "drift" if share > threshold else "no_drift"
        verb = ">" if share > threshold else "<="
        names = f": {', '.join(drifted)}" if drifted else ""
        reason = (f"{int(count)} of {len(compared)} compared columns drifted (share {share:.2f} {verb} threshold "
                  f"{threshold:.2f}) on {n_rows} current rows{names}")
        decision = DriftDecision(status, float(share), n_drifted=int(count), reason=reason, **common)
    return DriftComputation(decision, snapshot, per_column, ref_sample, cur_sample)


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
