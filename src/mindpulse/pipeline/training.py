"""The retrain's models: the champion and its backup shown, a challenger trained and put through the gate."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mindpulse import runs
from mindpulse.pipeline.records import PREVIEW_NOTE, Run, StepResult, current_champion, glues, json_ready
from mindpulse.pipeline.training_data import describe_training_set, positive_rate, training_data, training_set


def _versions_table(registry: Any) -> pd.DataFrame:
    """Every registered version: status, fixed-holdout ROC-AUC, when, and what it was trained on."""
    from mindpulse import lineage

    rows = [{"version": v.version, "status": v.status, "holdout_roc_auc": v.metric("holdout"),
             "created_at": v.created_at, "training_data": lineage.describe(v.metadata.get("lineage"))}
            for v in registry.versions()]
    return pd.DataFrame(rows, columns=["version", "status", "holdout_roc_auc", "created_at", "training_data"])


@glues("backup_model")
def backup_model(run: Run) -> StepResult:
    """Show the champion and its backup (the previous champion, the one a rollback returns to).

    Nothing changes here: only a promotion moves the backup, to the champion it replaces, so a
    refused challenger leaves champion and backup as they were.
    """
    registry = run.registry
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


#: The folds of the retrain's cross-validation (train.train_register_and_judge's default).
TRAINING_FOLDS = 5


def _same_training(registry: Any, data: Any, *, seed: int, candidates: list[str] | None) -> Any:
    """The registered version trained on this data with these settings (what training now would copy), or None."""
    from mindpulse import train

    record = train.training_record(data.lineage, seed=seed, folds=TRAINING_FOLDS,
                                   candidates=list(candidates) if candidates else train.CANDIDATES)
    return train.same_training_as(registry, record)



def data_source_key(run: Run) -> str:
    """How models registered before lineage records named the run they were trained for."""
    return f"{run.dag_id}/{run.run_id}:"


def version_trained_for(registry: Any, run: Run) -> Any:
    """The model version registered by this run's training, or None (the one lookup of it)."""
    wanted = {"dag_id": run.dag_id, "run_id": run.run_id}
    key = data_source_key(run)
    for version in reversed(registry.versions()):
        recorded = (version.metadata.get("lineage") or {}).get("run")
        if recorded is not None:
            if {k: recorded.get(k) for k in wanted} == wanted:
                return version
        elif str((version.metadata.get("data") or {}).get("source", "")).startswith(key):
            return version
    return None


def versions_in_run_records(settings: Any) -> set[str]:
    """Model versions named by the run records kept under the reports folder (pruning keeps them).

    A summary that does not match :class:`mindpulse.steps.RunSummary` still protects the versions
    it names: keeping a model too many is the safe side.
    """
    import json

    from mindpulse.steps import RecordError, parse_run_summary

    named: set[str] = set()
    if not settings.reports_dir.is_dir():
        return named
    for path in settings.reports_dir.glob(f"*/*/{runs.SUMMARY_NAME}"):
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(values, dict):
            continue
        try:
            values = parse_run_summary(values, str(path)).as_dict()
        except RecordError:
            pass  # the raw values still name the versions
        for key in ("challenger", "model_before", "model_after", "model_version"):
            if isinstance(values.get(key), str):
                named.add(values[key])
    return named


@glues("train_and_gate")
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
    registry = run.registry
    snapshot, data = training_data(run, commit=commit)
    counts = training_set(registry, data)
    existing = version_trained_for(registry, run) if commit else None
    same = None if existing is not None else _same_training(registry, data, seed=seed, candidates=candidates)
    common = {"snapshot_id": snapshot.id if snapshot is not None else None,
              "snapshot_rows": snapshot.n_rows if snapshot is not None else None,
              "lineage": data.lineage, "seed": seed, "margin": margin,
              "candidates": list(candidates) if candidates else None, **counts}
    champion = current_champion(run)
    if same is not None:
        reason = (f"nothing trained: the training data and settings are those of {train.describe_version(registry, same)}, "
                  f"so training would copy it ({describe_training_set(counts)}; seed {seed}, candidates "
                  f"{', '.join(candidates or train.CANDIDATES)}); no version registered")
        outputs = {"committed": bool(commit), "version": None, "skipped": True, "same_as": same.version,
                   "reason": reason, "metrics": {}, "champion_before": champion, "champion_after": champion, **common}
        return StepResult(json_ready(outputs), pd.DataFrame([{"version": None, "skipped": True, "same_as": same.version}]),
                          f"No challenger: {reason}." + ("" if commit else " " + PREVIEW_NOTE))
    if not commit:
        outputs = {"committed": False, "champion_before": champion, **common}
        return StepResult(json_ready(outputs), pd.DataFrame(counts["rows_by_source"]),
                          f"Would train a challenger on {describe_training_set(counts)}, and gate it against champion "
                          f"{champion}. " + PREVIEW_NOTE)
    if existing is None:
        data_source = f"{data_source_key(run)} {lineage.describe(data.lineage)}"
        kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
        outcome = train.train_register_and_judge(data.frame, registry, seed=seed, margin=margin, data_source=data_source,
                                                 progress=print, recent=data.recent, lineage=data.lineage,
                                                 folds=TRAINING_FOLDS, protect=sorted(versions_in_run_records(settings)),
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
    return StepResult(json_ready(outputs), table, message)


def _audit_training(run: Run, snapshot: Any, version: str, promoted: bool, reason: str, champion_before: Any,
                    pending: bool = False) -> None:
    """The audit trail's record of a retrain: the version, the gate's verdict, and the accounts behind its new rows."""
    from mindpulse.audit import AuditTrail, accounts_behind

    store = run.store
    details = {"run_id": run.run_id, "promoted": bool(promoted), "reason": str(reason)[:500],
               "champion_before": champion_before, "snapshot_id": snapshot.id if snapshot is not None else None,
               "rows": accounts_behind(store, snapshot.id) if snapshot is not None else None}
    action = "approval_requested" if pending else ("model_promoted" if promoted else "model_refused")
    AuditTrail(store).record(f"airflow:{run.dag_id}"[:64], "pipeline", action, target=version, details=details)


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
                    "depression_rate": positive_rate(part.rows), "champion_roc_auc": None if auc is None else round(auc, 4),
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
    """A figure to 4 decimals, None kept."""
    return None if value is None else round(float(value), 4)
