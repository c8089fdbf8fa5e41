"""The retrain DAG's checks and its trigger rule: rows waiting, drift, and the gate that decides whether the run retrains."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from mindpulse import runs, steps
from mindpulse.pipeline.records import Run, StepResult, decision_record, glues, json_ready, utc_now


@glues("check_production_data")
def check_production_data(run: Run, *, min_rows: int | None = None) -> StepResult:
    """Count the labelled production rows waiting for a retrain, per model version."""
    min_rows = run.settings.retrain_min_rows if min_rows is None else int(min_rows)
    frame = run.store.production_frame()
    rows = len(frame)
    table = _production_table(frame)
    positive_rate = float(frame["depression"].astype(float).mean()) if rows else None
    outputs = {"rows": rows, "min_rows": min_rows, "enough_rows": rows >= min_rows, "positive_rate": positive_rate}
    verdict = "enough for a retrain" if rows >= min_rows else "not enough on their own for a retrain"
    return StepResult(json_ready(outputs), table, f"{rows} labelled production rows waiting (min_rows {min_rows}): {verdict}.")


def _production_table(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"model_version": [], "rows": [], "depression_rate": [], "mean_probability": []})
    grouped = frame.assign(model_version=frame["model_version"].fillna("(none)")).groupby("model_version")
    return pd.DataFrame({
        "rows": grouped.size(),
        "depression_rate": grouped["depression"].apply(lambda s: s.astype(float).mean()).round(3),
        "mean_probability": grouped["probability"].mean().round(3),
    }).reset_index()


@glues("detect_drift")
def detect_drift(run: Run, *, feature_threshold: float | None = None, prediction_threshold: float | None = None,
                 min_rows: int | None = None) -> StepResult:
    """The drift trigger: the recent logged predictions, labelled or not, against the champion's training data.

    The same measure as the reporting run's drift report (:func:`mindpulse.pipeline.drift.measure_drift`):

    * feature drift: the share of the 13 model features whose distribution drifted, against
      ``feature_threshold`` (a retrain when more than 30 % of features drifted, by default);
    * prediction drift: the drift score of the predicted probability (Wasserstein distance normed
      by the baseline's std), flagged at or above ``prediction_threshold``;
    * label drift, on its own line: reported, never a trigger (most recent rows have no label).
    """
    from mindpulse.pipeline.drift import measure_drift

    measure = measure_drift(run, feature_threshold=feature_threshold, prediction_threshold=prediction_threshold,
                            min_rows=min_rows)
    outputs, message = measure.outputs(), measure.message()
    if outputs["drift_status"] == "drift":
        request = _outcome_request(run, measure.rows)
        outputs.update(outcome_request=[int(i) for i in request["prediction_id"]], outcome_request_rows=len(request))
        if len(request):
            message += (f"\nOutcomes that would tell us most: {len(request)} predictions of the drifted cohort "
                        f"(stratified), listed in {OUTCOME_REQUEST_NAME} and on the dashboard's Feedback page.")
    return StepResult(outputs, measure.table(), message)


#: The predictions whose outcomes a drifted retrain run asks for, in the run folder.
OUTCOME_REQUEST_NAME = "outcome_request.json"


def _outcome_request(run: Run, current: pd.DataFrame) -> pd.DataFrame:
    """A stratified sample of the drifted cohort's unlabelled predictions (``outcome_request_rows``), kept in the run folder."""
    from mindpulse.io import atomic_write_json
    from mindpulse.monitoring.outcomes import outcome_request

    request = outcome_request(current, run.settings.outcome_request_rows, seed=run.settings.seed)
    atomic_write_json(run.dir / OUTCOME_REQUEST_NAME, json_ready({
        "dag_id": run.dag_id, "run_id": run.run_id, "created_at": utc_now(), "rows": len(request),
        "why": "drift fired: the outcomes of these predictions of the drifted cohort would tell us most",
        "predictions": request.to_dict(orient="records")}))
    return request


@dataclass
class RetrainDecision:
    """Whether a retrain run goes on, and why (or why not)."""

    proceed: bool
    reasons: list[str]
    force: bool
    rows: int
    min_rows: int
    drift_status: str | None
    feature_drift_share: float | None
    feature_drift_threshold: float
    prediction_drift_score: float | None = None
    prediction_drift_threshold: float | None = None
    drift_not_measured: str | None = None  # why drift could not be measured (a forced run goes on regardless)
    #: drift fired without enough new outcomes: the run asks for outcomes instead of retraining on the same data
    outcomes_needed: bool = False
    min_new_labels: int = 0


def retrain_reasons(*, rows: int, min_rows: int, drift_status: str | None, feature_drift_share: float | None,
                    feature_drift_threshold: float, force: bool, prediction_drift_score: float | None = None,
                    prediction_drift_threshold: float | None = None,
                    drift_not_measured: str | None = None, min_new_labels: int = 0) -> RetrainDecision:
    """The trigger rule: rows >= min_rows OR drift plus labels OR force.

    Drift is feature drift share > its threshold or prediction drift score >= its threshold. It
    retrains only with at least ``min_new_labels`` new labelled rows (``rows``, the outcomes
    waiting for a retrain): drift on its own, without new outcomes, would retrain on the same
    labelled data and only copy the champion; the decision then says so and sets
    ``outcomes_needed``, and the run asks for outcomes of the drifted cohort instead.
    """
    drift_measured = drift_status not in (None, "not_enough_data") and feature_drift_share is not None
    met, unmet = [], []
    if force:
        met.append("forced by the run's conf (force=true)")
    (met if rows >= min_rows else unmet).append(
        f"{rows} labelled production rows {'>=' if rows >= min_rows else '<'} min_rows {min_rows}")
    outcomes_needed = False
    if drift_measured:
        drifted = feature_drift_share > feature_drift_threshold
        flagged = (prediction_drift_score is not None and prediction_drift_threshold is not None
                   and prediction_drift_score >= prediction_drift_threshold)
        labels = rows >= min_new_labels
        drift_met = met if labels else unmet
        (drift_met if drifted else unmet).append(
            f"feature drift share {feature_drift_share:.2f} {'>' if drifted else '<='} "
            f"feature_drift_threshold {feature_drift_threshold:.2f}")
        if prediction_drift_score is not None and prediction_drift_threshold is not None:
            (drift_met if flagged else unmet).append(
                f"prediction drift score {prediction_drift_score:.3f} {'>=' if flagged else '<'} "
                f"prediction_drift_threshold {prediction_drift_threshold:.2f}")
        if (drifted or flagged) and min_new_labels:
            if labels:
                met.append(f"drift plus {rows} new labelled rows >= {min_new_labels} (outcome_request_rows)")
            else:
                outcomes_needed = True
                unmet.append(f"drift without new outcomes ({rows} new labelled rows < {min_new_labels}): retraining "
                             "on the same labelled data would only copy the champion, so outcomes of the drifted "
                             "cohort are asked for instead")
    else:
        unmet.append("drift not measured (not enough production rows)")
    if not force:
        unmet.append("not forced")
    proceed = bool(met)
    return RetrainDecision(proceed=proceed, reasons=met if proceed else unmet, force=bool(force), rows=int(rows),
                           min_rows=int(min_rows), drift_status=drift_status, feature_drift_share=feature_drift_share,
                           feature_drift_threshold=float(feature_drift_threshold),
                           prediction_drift_score=prediction_drift_score if drift_measured else None,
                           prediction_drift_threshold=prediction_drift_threshold,
                           drift_not_measured=None if drift_measured else drift_not_measured,
                           outcomes_needed=outcomes_needed and not proceed, min_new_labels=int(min_new_labels))


def _drift_outputs(run_dir: Path, *, force: bool) -> tuple[steps.DriftOutputs, str | None]:
    """The drift step's glued values, and why drift was not measured (None when it was).

    A failed drift step stops the gate, unless the run is forced: a forced retrain goes on
    without a drift figure, and the reason is kept in its decision.
    """
    notebook = runs.notebook_path(run_dir, "detect_drift")
    drift = steps.read_step(run_dir, "detect_drift")
    if "drift_status" not in drift.model_fields_set:
        error = runs.notebook_error(notebook)
        why = f"the detect_drift step failed: {error}" if error else "the detect_drift step did not finish in this run"
        if not force:
            raise RuntimeError(f"{notebook}: {why}; no retrain decision without it unless the run is forced")
        return steps.DriftOutputs(), why
    if drift.drift_status == "not_enough_data" or drift.feature_drift_share is None:
        return drift, str(drift.reason or "not enough data to measure drift")
    return drift, None


def decide_retrain(run_dir: str | Path, *, min_rows: int, feature_drift_threshold: float,
                   prediction_drift_threshold: float, force: bool, min_new_labels: int | None = None) -> RetrainDecision:
    """The gate: read what the two check notebooks glued, decide, and keep the decision in the run folder.

    ``min_new_labels``: new labelled rows drift needs to retrain (default ``outcome_request_rows``).
    """
    if min_new_labels is None:
        from mindpulse.settings import get_settings

        min_new_labels = get_settings().outcome_request_rows
    run_dir = Path(run_dir)
    with decision_record(run_dir, "decide_retrain") as record:
        check = steps.read_step(run_dir, "check_production_data", require="rows")
        drift, not_measured = _drift_outputs(run_dir, force=force)
        decision = retrain_reasons(rows=check.rows, min_rows=min_rows, drift_status=drift.drift_status,
                                   feature_drift_share=drift.feature_drift_share,
                                   feature_drift_threshold=feature_drift_threshold,
                                   prediction_drift_score=drift.prediction_drift_score,
                                   prediction_drift_threshold=prediction_drift_threshold,
                                   force=force, drift_not_measured=not_measured, min_new_labels=min_new_labels)
        record.update(asdict(decision))
    return decision
