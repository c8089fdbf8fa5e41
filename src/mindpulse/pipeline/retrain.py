"""The retrain DAG's steps: checks, the trigger rule, backup, merge, train-and-gate, archive, notify."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import runs
from mindpulse.pipeline.records import (
    PREVIEW_NOTE,
    RETRAIN_STEPS,
    Run,
    StepResult,
    _close_run,
    _current_champion,
    _decision_record,
    _glued,
    _json_ready,
    _now,
    _read_decision,
    _step_statuses,
)
from mindpulse.pipeline.sources import _reference, _registry, _store


# --- retrain: checks and the gate ---------------------------------------------------------------
def check_production_data(run: Run, *, min_rows: int | None = None) -> StepResult:
    """Count the labelled production rows waiting for a retrain, per model version."""
    min_rows = run.settings.retrain_min_rows if min_rows is None else int(min_rows)
    frame = _store(run.settings).production_frame()
    rows = len(frame)
    table = _production_table(frame)
    positive_rate = float(frame["depression"].astype(float).mean()) if rows else None
    outputs = {"rows": rows, "min_rows": min_rows, "enough_rows": rows >= min_rows, "positive_rate": positive_rate}
    verdict = "enough for a retrain" if rows >= min_rows else "not enough on their own for a retrain"
    return StepResult(_json_ready(outputs), table, f"{rows} labelled production rows waiting (min_rows {min_rows}): {verdict}.")


def _production_table(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"model_version": [], "rows": [], "depression_rate": [], "mean_probability": []})
    grouped = frame.assign(model_version=frame["model_version"].fillna("(none)")).groupby("model_version")
    return pd.DataFrame({
        "rows": grouped.size(),
        "depression_rate": grouped["depression"].apply(lambda s: s.astype(float).mean()).round(3),
        "mean_probability": grouped["probability"].mean().round(3),
    }).reset_index()


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
    atomic_write_json(run.dir / OUTCOME_REQUEST_NAME, _json_ready({
        "dag_id": run.dag_id, "run_id": run.run_id, "created_at": _now(), "rows": len(request),
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


def _drift_outputs(run_dir: Path, *, force: bool) -> tuple[dict[str, Any], str | None]:
    """The drift step's glued values, and why drift was not measured (None when it was).

    A failed drift step stops the gate, unless the run is forced: a forced retrain goes on
    without a drift figure, and the reason is kept in its decision.
    """
    notebook = runs.notebook_path(run_dir, "detect_drift")
    drift = runs.read_outputs(notebook)
    if "drift_status" not in drift:
        error = runs.notebook_error(notebook)
        why = f"the detect_drift step failed: {error}" if error else "the detect_drift step did not finish in this run"
        if not force:
            raise RuntimeError(f"{notebook}: {why}; no retrain decision without it unless the run is forced")
        return {}, why
    if drift["drift_status"] == "not_enough_data" or drift.get("feature_drift_share") is None:
        return drift, str(drift.get("reason") or "not enough data to measure drift")
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
    with _decision_record(run_dir, "decide_retrain") as record:
        check = _glued(run_dir, "check_production_data", "rows")
        drift, not_measured = _drift_outputs(run_dir, force=force)
        decision = retrain_reasons(rows=check["rows"], min_rows=min_rows, drift_status=drift.get("drift_status"),
                                   feature_drift_share=drift.get("feature_drift_share"),
                                   feature_drift_threshold=feature_drift_threshold,
                                   prediction_drift_score=drift.get("prediction_drift_score"),
                                   prediction_drift_threshold=prediction_drift_threshold,
                                   force=force, drift_not_measured=not_measured, min_new_labels=min_new_labels)
        record.update(asdict(decision))
    return decision


# --- retrain: the steps that change something ---------------------------------------------------
def _versions_table(registry: Any) -> pd.DataFrame:
    from mindpulse import lineage

    rows = [{"version": v.version, "status": v.status, "holdout_roc_auc": v.metric("holdout"),
             "created_at": v.created_at, "training_data": lineage.describe(v.metadata.get("lineage"))}
            for v in registry.versions()]
    return pd.DataFrame(rows, columns=["version", "status", "holdout_roc_auc", "created_at", "training_data"])


def backup_model(run: Run) -> StepResult:
    """Show the champion and its backup (the previous champion, the one a rollback returns to).

    Nothing changes here: only a promotion moves the backup, to the champion it replaces, so a
    refused challenger leaves champion and backup as they were.
    """
    registry = _registry(run.settings)
    champion, backup = registry.champion(), registry.backup()
    # has_champion is always glued: with no champion the step still records that it finished.
    outputs = {"has_champion": champion is not None, "champion": champion.version if champion else None,
               "backup": backup.version if backup else None}
    if champion is None:
        message = "No champion yet: the challenger will become the first champion."
    elif backup is None:
        message = (f"Champion {champion.version} is the only model that has been champion: no backup yet "
                   "(a promotion makes the champion it replaces the backup).")
    else:
        message = f"Champion {champion.version}; backup {backup.version} (the previous champion, what a rollback returns to)."
    return StepResult(outputs, _versions_table(registry), message)


def training_frame(reference: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    """Reference rows followed by production rows, in the canonical columns."""
    from mindpulse.contract import CANONICAL_COLUMNS

    columns = list(CANONICAL_COLUMNS)
    return pd.concat([reference[columns], production[columns]], ignore_index=True)


def _training_data(run: Run, *, commit: bool = True) -> tuple[Any, Any]:
    """This run's snapshot and the accumulated training data around it: the one place a training set is made.

    ``commit``: claim the snapshot (once per run id: the same one on every call of this run).
    Without it (a preview), nothing is claimed: the pending rows stand where the snapshot would,
    split the same way, so a preview counts exactly what a committed run would train on now.
    """
    from mindpulse import lineage

    settings = run.settings
    store = _store(settings)
    snapshot = store.claim_snapshot(run.run_id) if commit else None
    data = lineage.assemble(settings, store, _reference(settings), snapshot,
                            run={"dag_id": run.dag_id, "run_id": run.run_id}, seed=settings.seed,
                            window_days=settings.training_window_days,
                            pending=None if commit else store.production_frame())
    return snapshot, data


def training_set(registry: Any, data: Any) -> dict[str, Any]:
    """What a training set holds, per source, and what is held out of it (preview and committed run alike).

    Rows per source (reference, each snapshot, pending rows in a preview: all rows and rows
    trained on), the recent slices held out for the gate, the snapshots left out in quarantine,
    and the rows of the fixed holdout that training excludes (from the rows offered).
    """
    offered = len(data.frame)
    holdout_rows = offered - len(registry.exclude_holdout(data.frame)) if registry.holdout() is not None else 0
    sources = [{"source": "reference", "rows": len(data.reference), "trained_rows": len(data.reference), "recent_rows": 0}]
    sources += [{"source": p.source, "rows": len(p.rows), "trained_rows": len(p.trained), "recent_rows": len(p.recent)}
                for p in data.parts if len(p.rows)]
    return {"training_rows": offered, "fitted_rows": offered - holdout_rows, "holdout_rows_excluded": holdout_rows,
            "recent_rows": len(data.recent), "recent_snapshots": list(data.lineage["recent"]["snapshots"]),
            "rows_by_source": sources,
            "quarantined_snapshots": [q["id"] for q in data.lineage.get("quarantined") or []]}


def describe_training_set(counts: dict[str, Any]) -> str:
    """:func:`training_set` in one sentence."""
    parts = []
    for item in counts["rows_by_source"]:
        if item["source"] == "reference":
            parts.append(f"reference {item['rows']}")
        else:
            parts.append(f"{item['source']} {item['trained_rows']} of {item['rows']}")
    recent = counts["recent_snapshots"]
    text = (f"{counts['training_rows']} rows ({' + '.join(parts)}); held out: {counts['recent_rows']} recent rows "
            "for the gate" + (f" (snapshot {', '.join(map(str, recent))})" if recent else "")
            + f" and {counts['holdout_rows_excluded']} rows of the fixed holdout, so models fit on "
            f"{counts['fitted_rows']} rows")
    if counts["quarantined_snapshots"]:
        text += f"; left out in quarantine: snapshot {', '.join(map(str, counts['quarantined_snapshots']))}"
    return text


#: The folds of the retrain's cross-validation (train.train_register_and_judge's default).
TRAINING_FOLDS = 5


def _same_training(registry: Any, data: Any, *, seed: int, candidates: list[str] | None) -> Any:
    """The registered version trained on this data with these settings (what training now would copy), or None."""
    from mindpulse import train

    record = train.training_record(data.lineage, seed=seed, folds=TRAINING_FOLDS,
                                   candidates=list(candidates) if candidates else train.CANDIDATES)
    return train.same_training_as(registry, record)


def merge_training_data(run: Run, *, commit: bool = False) -> StepResult:
    """Claim this run's snapshot and gather all labelled data so far: reference + archived snapshots + this one.

    With ``commit=False`` (a notebook run by hand) nothing is claimed: it shows what a claim now
    would give, counted by the same function as a committed run.
    """
    registry = _registry(run.settings)
    snapshot, data = _training_data(run, commit=commit)
    counts = training_set(registry, data)
    pending = next((p for p in data.parts if p.pending), None)
    earlier = [p for p in data.parts if not p.pending and (snapshot is None or p.id != snapshot.id)]
    new_rows = snapshot.n_rows if snapshot is not None else (len(pending.rows) if pending is not None else 0)
    outputs = {"committed": bool(commit), "snapshot_id": snapshot.id if snapshot is not None else None,
               "production_rows": new_rows, "reference_rows": len(data.reference),
               "archived_snapshots": [p.id for p in earlier if len(p.rows)],
               "archived_rows": sum(len(p.rows) for p in earlier), "positive_rate": _rate(data.frame),
               "window_days": run.settings.training_window_days, **counts}
    if commit:
        message = f"Snapshot {snapshot.id}: {snapshot.n_rows} new production rows; training data {describe_training_set(counts)}."
    else:
        message = (f"Would claim {new_rows} pending production rows; training data would be "
                   f"{describe_training_set(counts)}. " + PREVIEW_NOTE)
    return StepResult(_json_ready(outputs), data.table(), message)


def _rate(frame: pd.DataFrame) -> float | None:
    return round(float(frame["depression"].astype(float).mean()), 4) if len(frame) else None


def _data_source_key(run: Run) -> str:
    """How models registered before lineage records named the run they were trained for."""
    return f"{run.dag_id}/{run.run_id}:"


def _version_trained_for(registry: Any, run: Run) -> Any:
    """The model version registered by this run's training, or None (the one lookup of it)."""
    wanted = {"dag_id": run.dag_id, "run_id": run.run_id}
    key = _data_source_key(run)
    for version in reversed(registry.versions()):
        recorded = (version.metadata.get("lineage") or {}).get("run")
        if recorded is not None:
            if {k: recorded.get(k) for k in wanted} == wanted:
                return version
        elif str((version.metadata.get("data") or {}).get("source", "")).startswith(key):
            return version
    return None


def _versions_in_run_records(settings: Any) -> set[str]:
    """Model versions named by the run records kept under the reports folder (pruning keeps them)."""
    import json

    named: set[str] = set()
    if not settings.reports_dir.is_dir():
        return named
    for path in settings.reports_dir.glob(f"*/*/{runs.SUMMARY_NAME}"):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for key in ("challenger", "model_before", "model_after", "model_version"):
            if isinstance(summary.get(key), str):
                named.add(summary[key])
    return named


def train_and_gate(run: Run, *, seed: int | None = None, candidates: list[str] | None = None,
                   margin: float | None = None, commit: bool = False) -> StepResult:
    """Train a challenger on all labelled data so far and promote it only if it passes the gate.

    Nothing is trained when a registered version (any: champion, refused, rolled back away from)
    was trained on the same data with the same settings: the step names it instead. A retry after
    the model was registered does not train again: it puts the same version through the gate once
    more (promoting the champion again is a no-op). When the challenger is refused, the champion is
    scored on each snapshot of the training data, so a batch that does not fit stands out. With
    ``commit=False`` (a notebook run by hand) nothing is claimed, trained or registered: it shows
    what a committed run would train on, counted by the same function.
    """
    from mindpulse import approval, lineage, train
    from mindpulse import gate as gate_rule

    settings = run.settings
    seed = settings.seed if seed is None else int(seed)
    margin = settings.promotion_margin if margin is None else float(margin)
    registry = _registry(settings)
    snapshot, data = _training_data(run, commit=commit)
    counts = training_set(registry, data)
    existing = _version_trained_for(registry, run) if commit else None
    same = None if existing is not None else _same_training(registry, data, seed=seed, candidates=candidates)
    common = {"snapshot_id": snapshot.id if snapshot is not None else None,
              "snapshot_rows": snapshot.n_rows if snapshot is not None else None,
              "lineage": data.lineage, "seed": seed, "margin": margin,
              "candidates": list(candidates) if candidates else None, **counts}
    champion = _current_champion(settings)
    if same is not None:
        reason = (f"nothing trained: the training data and settings are those of {train.describe_version(registry, same)}, "
                  f"so training would copy it ({describe_training_set(counts)}; seed {seed}, candidates "
                  f"{', '.join(candidates or train.CANDIDATES)}); no version registered")
        outputs = {"committed": bool(commit), "version": None, "skipped": True, "same_as": same.version,
                   "reason": reason, "metrics": {}, "champion_before": champion, "champion_after": champion, **common}
        return StepResult(_json_ready(outputs), pd.DataFrame([{"version": None, "skipped": True, "same_as": same.version}]),
                          f"No challenger: {reason}." + ("" if commit else " " + PREVIEW_NOTE))
    if not commit:
        outputs = {"committed": False, "champion_before": champion, **common}
        return StepResult(_json_ready(outputs), pd.DataFrame(counts["rows_by_source"]),
                          f"Would train a challenger on {describe_training_set(counts)}, and gate it against champion "
                          f"{champion}. " + PREVIEW_NOTE)
    if existing is None:
        data_source = f"{_data_source_key(run)} {lineage.describe(data.lineage)}"
        kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
        outcome = train.train_register_and_judge(data.frame, registry, seed=seed, margin=margin, data_source=data_source,
                                       progress=print, recent=data.recent, lineage=data.lineage, folds=TRAINING_FOLDS,
                                       protect=sorted(_versions_in_run_records(settings)),
                                       hold_for_approval=approval.required(settings), **kwargs)
        version, promoted, reason, metrics = outcome.version, outcome.promoted, outcome.reason, outcome.metrics
        champion_before, champion_after = outcome.champion_before, outcome.champion_after
    else:
        print(f"{existing.version} was already trained for this run: gating it again instead of retraining")
        decision = (approval.hold(registry, existing.version, margin=margin) if approval.required(settings)
                    else registry.promote(existing.version, margin=margin))
        version, promoted, reason = existing.version, decision.promoted, decision.reason
        metrics = {**{f"holdout_{k}": v for k, v in (existing.metadata.get("holdout") or {}).items()},
                   **train.gate_metrics(decision)}
        champion_before, champion_after = existing.metadata.get("parent"), decision.champion_after
    outputs = {"committed": True, "version": version, "promoted": promoted, "reason": reason, "metrics": metrics,
               "champion_before": champion_before, "champion_after": champion_after, **common}
    held = approval.approval_of(registry.get(version))
    outputs["approval"] = held or None
    _audit_training(run, snapshot, version, promoted, reason, champion_before, pending=approval.is_pending(registry.get(version)))
    message = f"Challenger {version} {gate_rule.in_words(promoted, reason)}"
    if held.get("status") == approval.PENDING:
        message = f"Challenger {version} {reason}: champion {champion_after} stays until an admin decides."
    elif not promoted and champion_after:
        scores = champion_scores_by_snapshot(registry, champion_after, data)
        outputs["snapshot_scores"] = scores
        message += "\n" + describe_snapshot_scores(champion_after, scores)
    table = gate_table(registry.get(version).metadata.get("gate") or held.get("gate") or {})
    return StepResult(_json_ready(outputs), table, message)


def _audit_training(run: Run, snapshot: Any, version: str, promoted: bool, reason: str, champion_before: Any,
                    pending: bool = False) -> None:
    """The audit trail's record of a retrain: the version, the gate's verdict, and the accounts behind its new rows."""
    from mindpulse.audit import AuditTrail, accounts_behind

    store = _store(run.settings)
    details = {"run_id": run.run_id, "promoted": bool(promoted), "reason": str(reason)[:500],
               "champion_before": champion_before, "snapshot_id": snapshot.id if snapshot is not None else None,
               "rows": accounts_behind(store, snapshot.id) if snapshot is not None else None}
    action = "approval_requested" if pending else ("model_promoted" if promoted else "model_refused")
    AuditTrail(store).record(f"airflow:{run.dag_id}"[:64], "pipeline", action,
                             target=version, details=details)


#: A snapshot on which the champion's ROC-AUC is this far below its fixed-holdout ROC-AUC does not fit.
MISFIT_AUC_GAP = 0.10


def champion_scores_by_snapshot(registry: Any, version: str, data: Any) -> list[dict[str, Any]]:
    """How ``version`` (the champion that stayed) scores on each snapshot of the training data.

    One row per non-empty snapshot: its rows, depression rate and the champion's ROC-AUC on all
    its rows; ``fits`` is False where that ROC-AUC is more than ``MISFIT_AUC_GAP`` below the
    champion's on the fixed holdout: labels the serving model cannot explain (a batch with
    flipped or shifted labels stands out).
    """
    from mindpulse import gate

    model = registry.load_model(version)
    baseline = registry.get(version).metric("holdout")
    out = []
    for part in data.parts:
        if not len(part.rows):
            continue
        y = part.rows["depression"].astype(int).to_numpy()
        auc = float(gate.roc_auc(y, model.predict_proba(part.rows))) if len(set(y.tolist())) == 2 else None
        fits = None if auc is None or baseline is None else auc >= baseline - MISFIT_AUC_GAP
        out.append({"snapshot_id": part.id, "source": part.source, "rows": len(part.rows),
                    "depression_rate": _rate(part.rows), "champion_roc_auc": None if auc is None else round(auc, 4),
                    "champion_holdout_roc_auc": None if baseline is None else round(baseline, 4), "fits": fits})
    return out


def describe_snapshot_scores(version: str, scores: list[dict[str, Any]]) -> str:
    """The per-snapshot scores in words, naming the snapshots that do not fit and how to set them aside."""
    if not scores:
        return f"The training data holds no production snapshot: nothing to score champion {version} on per snapshot."
    shown = "; ".join(f"{s['source']}: ROC-AUC " + ("n/a (one label)" if s["champion_roc_auc"] is None
                                                   else f"{s['champion_roc_auc']:.4f}") + f" on {s['rows']} rows"
                      for s in scores)
    text = f"Champion {version} on each snapshot of the training data: {shown}."
    misfits = [s for s in scores if s["fits"] is False]
    if misfits:
        names = ", ".join(str(s["snapshot_id"]) for s in misfits)
        text += (f" Snapshot {names} does not fit (ROC-AUC more than {MISFIT_AUC_GAP:g} below the champion's "
                 f"fixed-holdout {misfits[0]['champion_holdout_roc_auc']:.4f}): if its labels are wrong, "
                 f"'mindpulse store quarantine {misfits[0]['snapshot_id']} --reason TEXT' keeps it out of the next retrain.")
    return text


def gate_table(gate: dict[str, Any]) -> pd.DataFrame:
    """The gate's comparison, one row per slice: both ROC-AUCs (4 decimals), the difference, its interval, the verdict."""
    rows = []
    for item in gate.get("comparisons") or []:
        interval = item.get("interval")
        rows.append({
            "slice": item["slice"].replace("_", " "), "rows": item["rows"],
            "challenger ROC-AUC": _four(item.get("challenger_auc")), "champion ROC-AUC": _four(item.get("champion_auc")),
            "difference": _four(item.get("difference")),
            "95 % interval": f"[{interval[0]:+.4f}, {interval[1]:+.4f}]" if interval else "not compared",
            "verdict": ("passes" if item["passed"] else "fails") if item["judged"] else "not judged",
        })
    if gate.get("best_promoted_auc") is not None:
        rows.append({"slice": "best promoted model (fixed holdout)", "rows": None,
                     "challenger ROC-AUC": _four(gate.get("challenger_auc")),
                     "champion ROC-AUC": _four(gate.get("best_promoted_auc")), "difference": None,
                     "95 % interval": f"floor {gate['floor']:.4f}" if gate.get("floor") is not None else "",
                     "verdict": "passes" if gate.get("floor") is None or gate["challenger_auc"] >= gate["floor"] else "fails"})
    rows.append({"slice": "decision", "rows": None, "challenger ROC-AUC": None, "champion ROC-AUC": None,
                 "difference": None, "95 % interval": "", "verdict": gate.get("reason", "")})
    return pd.DataFrame(rows)


def _four(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def archive_production_data(run: Run, *, commit: bool = False) -> StepResult:
    """Export the snapshot this run trained on and mark its rows as used (only once its model is registered).

    An empty snapshot writes no file: its claim is released instead. With ``commit=False`` (a
    notebook run by hand) it only says what it would archive.
    """
    store = _store(run.settings)
    snapshots = [s for s in store.snapshots() if s.run_id == run.run_id and s.state in ("claimed", "archived")]
    if snapshots and snapshots[0].n_rows == 0:
        snapshot = snapshots[0]
        if snapshot.state == "claimed" and commit:
            store.release_snapshot(snapshot.id)
        outputs = {"committed": bool(commit), "archived": False, "rows": 0, "snapshot_id": snapshot.id}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Nothing archived: snapshot {snapshot.id} holds no rows, so no file is written.")
    trained = _version_trained_for(_registry(run.settings), run)
    if not snapshots or trained is None:
        missing = "no snapshot was claimed" if not snapshots else "no model was trained on it"
        outputs = {"committed": bool(commit), "archived": False, "rows": 0}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Nothing archived: in this run {missing}, so its rows stay where they are.")
    snapshot = snapshots[0]
    if not commit:
        outputs = {"committed": False, "archived": False, "rows": snapshot.n_rows, "snapshot_id": snapshot.id,
                   "model_version": trained.version}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Would archive snapshot {snapshot.id} ({snapshot.n_rows} rows, trained into "
                          f"{trained.version}). " + PREVIEW_NOTE)
    path = store.archive_snapshot(snapshot.id, run.settings.archive_dir)
    from mindpulse.audit import AuditTrail

    AuditTrail(store).record(f"airflow:{run.dag_id}"[:64], "pipeline", "snapshot_archived", target=f"snapshot {snapshot.id}",
                             details={"run_id": run.run_id, "rows": snapshot.n_rows, "model_version": trained.version})
    outputs = {"committed": True, "archived": True, "archive_path": str(path), "rows": snapshot.n_rows,
               "snapshot_id": snapshot.id,
               "model_version": trained.version}
    return StepResult(outputs, pd.DataFrame([outputs]),
                      f"Snapshot {snapshot.id} ({snapshot.n_rows} rows, trained into {trained.version}) archived to {path}.")


def finish_retrain(run: Run, *, force: bool = False) -> StepResult:
    """Close a retrain run: release a snapshot training did not use, write run_summary.json, notify."""
    steps = _step_statuses(run, RETRAIN_STEPS, own="notify")
    decision = _read_decision(run.dir, "decide_retrain")
    check = runs.read_outputs(run.notebook("check_production_data"))
    drift = runs.read_outputs(run.notebook("detect_drift"))
    backup = runs.read_outputs(run.notebook("backup_model"))
    merged = runs.read_outputs(run.notebook("merge_training_data"))
    trained = runs.read_outputs(run.notebook("train_and_gate"))
    archived = runs.read_outputs(run.notebook("archive_production_data"))

    failed = [name for name, step in steps.items() if step["status"] in ("failed", "incomplete")]
    # A forced run goes on without a drift figure: its drift step's failure is listed, and the
    # Airflow run fails, but the outcome is what happened to the model.
    forced_past = {"detect_drift"} if decision and decision.get("proceed") and decision.get("drift_not_measured") else set()
    if set(failed) - forced_past:
        outcome = "failed"
    elif "promoted" in trained:
        outcome = "promoted" if trained["promoted"] else "refused"
    else:  # the gate said no (or, run by hand, there was no gate and nothing was trained)
        outcome = "skipped"

    snapshot = {"id": trained.get("snapshot_id", merged.get("snapshot_id")), "rows": merged.get("production_rows"),
                "archived_to": archived.get("archive_path"), "released": False}
    if outcome == "failed" and "snapshot_id" not in trained:
        snapshot.update(_release_snapshot(run))

    registry_champion = _current_champion(run.settings)
    summary = {
        "dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), "created_at": _now(),
        "outcome": outcome, "failed_steps": failed,
        "trigger": decision or {"proceed": False, "force": bool(force),
                                "reasons": ["no gate decision in this run folder (the checks did not finish, or run by hand)"]},
        "rows": check.get("rows"), "drift_status": drift.get("drift_status"),
        "feature_drift_share": drift.get("feature_drift_share"), "prediction_drift_score": drift.get("prediction_drift_score"),
        "prediction_drifted": drift.get("prediction_drifted"),
        "model_before": trained.get("champion_before", backup.get("champion", registry_champion)),
        "model_after": trained.get("champion_after", registry_champion),
        "challenger": trained.get("version"), "gate_reason": trained.get("reason"),
        "metrics": trained.get("metrics") or {}, "snapshot": snapshot,
        "reports": {"data_drift": drift.get("report_html")},
        "swept_claims": (_read_decision(run.dir, "sweep_stale_claims") or {}).get("swept", []),
        "reference": drift.get("reference"),
        "outcome_request": _requested_outcomes(run) if (decision or {}).get("outcomes_needed") else None,
        "lineage": trained.get("lineage"),
        "training_set": {k: trained[k] for k in TRAINING_SET_KEYS if k in trained} or None,
        "same_as": trained.get("same_as"),
        # When the challenger was refused: the champion's ROC-AUC on each snapshot it was trained with.
        "snapshot_scores": trained.get("snapshot_scores"),
        "steps": steps,
    }
    from mindpulse.pipeline.approval import add_approval

    extra = add_approval(run, summary)  # the approval's answer, when the challenger waited for one
    return _close_run(run, summary, _retrain_text(summary) + extra)


#: What :func:`training_set` glues, kept in the run summary.
TRAINING_SET_KEYS = ("training_rows", "fitted_rows", "holdout_rows_excluded", "recent_rows", "recent_snapshots",
                     "rows_by_source", "quarantined_snapshots")


def _release_snapshot(run: Run) -> dict[str, Any]:
    """Give the rows a failed run claimed back to the pending pool (nothing to do when none were claimed).

    Decided from the registry, not from glued outputs: when this run's model was registered
    (training's kernel died before its glue cell), its rows were used, so they are archived.
    """
    try:
        store = _store(run.settings)
        claimed = [s for s in store.snapshots() if s.run_id == run.run_id and s.state == "claimed"]
        trained = _version_trained_for(_registry(run.settings), run) if claimed else None
        if trained is not None:
            path = store.archive_snapshot(claimed[0].id, run.settings.archive_dir)
            return {"id": claimed[0].id, "rows": claimed[0].n_rows, "released": False, "archived_to": str(path),
                    "model_version": trained.version}
        for snapshot in claimed:
            store.release_snapshot(snapshot.id)
    except Exception as exc:  # the summary must still be written; the failure is reported in it
        return {"released": False, "release_error": f"{type(exc).__name__}: {exc}"}
    if not claimed:
        return {"released": False}
    return {"id": claimed[0].id, "rows": claimed[0].n_rows, "released": True}


def _requested_outcomes(run: Run) -> dict[str, Any] | None:
    """The outcome request the drift step wrote (ids, rows, file), or None when it wrote none."""
    import json

    path = run.dir / OUTCOME_REQUEST_NAME
    try:
        request = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"rows": request.get("rows"), "prediction_ids": [p["prediction_id"] for p in request.get("predictions") or []],
            "file": OUTCOME_REQUEST_NAME}


def _retrain_text(summary: dict[str, Any]) -> str:
    lines = [f"Retrain run {summary['run_id']}: {summary['outcome']}."]
    reasons = summary["trigger"].get("reasons") or []
    lines.append(("Triggered: " if summary["trigger"].get("proceed") else "Not triggered: ") + "; ".join(reasons) + ".")
    from mindpulse.gate import in_words

    request = summary.get("outcome_request")
    if request and request.get("rows"):
        lines.append(f"Outcomes that would tell us most: {request['rows']} predictions of the drifted cohort, prediction ids "
                     + ", ".join(map(str, request["prediction_ids"])) + " (also on the dashboard's Feedback page). Once "
                     "they are recorded, the next retrain run retrains on them (drift plus labels).")
    if summary["challenger"]:
        promoted = summary["model_after"] == summary["challenger"]
        lines.append(f"Challenger {summary['challenger']} {in_words(promoted, summary['gate_reason'] or '')}")
    elif summary.get("same_as"):
        lines.append(f"No challenger: {summary['gate_reason']}.")
    if summary.get("snapshot_scores"):
        lines.append(describe_snapshot_scores(summary["model_after"], summary["snapshot_scores"]))
    lines.append(f"Champion before: {summary['model_before']}; after: {summary['model_after']}.")
    if summary["failed_steps"]:
        lines.append("Failed step(s): " + ", ".join(summary["failed_steps"]) + " (executed notebooks in the run folder).")
    if summary["snapshot"].get("released"):
        lines.append(f"Snapshot {summary['snapshot'].get('id')} released: its rows wait for the next retrain.")
    lines.append(f"Audit record: {summary['run_dir']}")
    return "\n".join(lines)


