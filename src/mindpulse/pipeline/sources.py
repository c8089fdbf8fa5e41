"""What the steps read: the store, the registry, the reference data, and the frames the drift steps compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse.settings import Settings


def open_store(settings: Settings):  # noqa: ANN202 - the store class is imported lazily
    """The production store of ``settings`` (its schema checked: migrating is the deploy step's job)."""
    from mindpulse.store import Store

    return Store.from_settings(settings)  # its schema checked (the deploy step migrated it)


def open_registry(settings: Settings):  # noqa: ANN202 - the registry class is imported lazily
    """The model registry of ``settings``."""
    from mindpulse.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


def store_of(settings: Settings, context: Any = None):  # noqa: ANN201 - the store class is imported lazily
    """The store of a step's context (its :class:`~mindpulse.pipeline.records.Run`, which opens it once, on
    first use), or, without one, the store of ``settings``. Asked only where rows are read, so a
    step whose rows are frozen in its run folder opens nothing."""
    return context.store if context is not None else open_store(settings)


def registry_of(settings: Settings, context: Any = None):  # noqa: ANN201
    """The registry of a step's context (see :func:`store_of`), or, without one, the registry of ``settings``."""
    return context.registry if context is not None else open_registry(settings)


def load_reference(settings: Settings) -> pd.DataFrame:
    """The reference data (the first training set), read when a step needs it."""
    from mindpulse import data

    return data.load_reference(settings)


def _frozen(run_dir: Path | None, name: str, make: Callable[[], tuple[pd.DataFrame, dict]],
            valid: Callable[[dict], bool] = lambda described: True) -> tuple[pd.DataFrame, dict]:
    """``make()``, kept in ``run_dir`` as ``<name>.parquet`` and ``<name>.json`` on first use and read
    back afterwards, so the steps of one run (each in its own kernel) compare with the same rows
    and compute them once. Without a run folder, ``make()``."""
    if run_dir is None:
        return make()
    data, about = Path(run_dir) / f"{name}.parquet", Path(run_dir) / f"{name}.json"
    if data.is_file() and about.is_file():
        described = json.loads(about.read_text(encoding="utf-8"))
        if valid(described):
            return pd.read_parquet(data), described
    frame, described = make()
    from mindpulse.io import atomic_path, atomic_write_json

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with atomic_path(data) as tmp:
        frame.to_parquet(tmp, index=False)
    atomic_write_json(about, described)  # written last: the pair is complete once it exists
    return frame, described


#: The frozen current rows of a run (``current_data.parquet`` and ``current_data.json``).
CURRENT_NAME = "current_data"
#: The frozen drift baseline of a run (``reference_data.parquet`` and ``reference_data.json``).
BASELINE_NAME = "reference_data"


def monitored_predictions(settings: Settings, run_dir: Path | None = None, *,
                          now: datetime | None = None, context: Any = None) -> tuple[pd.DataFrame, dict]:
    """What monitoring looks at: the predictions logged in the last ``monitoring_window_days`` days, at most
    ``monitoring_max_rows`` of them (the newest), labelled or not; in prediction id order, with a description.

    Both DAGs read their current rows here (the reporting run's reports, the retrain run's drift
    trigger). With ``run_dir`` the rows are frozen there on first use, so every step of a run
    describes the same rows. ``context``: see :func:`store_of`.
    """
    return _frozen(run_dir, CURRENT_NAME, lambda: _monitored_predictions(settings, now, context))


def _monitored_predictions(settings: Settings, now: datetime | None, context: Any) -> tuple[pd.DataFrame, dict]:
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=settings.monitoring_window_days)
    recent = store_of(settings, context).recent_predictions(limit=settings.monitoring_max_rows)
    created = pd.to_datetime(recent["created_at"], utc=True)
    frame = recent.loc[created >= since].sort_values("prediction_id").reset_index(drop=True)
    labelled = int(frame["depression"].notna().sum())
    described = {"window_days": settings.monitoring_window_days, "max_rows": settings.monitoring_max_rows,
                 "since": since.isoformat(timespec="seconds"), "until": now.isoformat(timespec="seconds"),
                 "rows": len(frame), "labelled_rows": labelled, "unlabelled_rows": len(frame) - labelled,
                 "capped": len(recent) >= settings.monitoring_max_rows and len(frame) == len(recent)}
    return frame, described


def champion_reference(settings: Settings, run_dir: Path | None = None, current: pd.DataFrame | None = None, *,
                       context: Any = None) -> tuple[pd.DataFrame, dict]:
    """The drift and quality baseline (see :func:`drift_baseline`) of ``current`` (default: :func:`monitored_predictions`)."""
    if current is None:
        current = monitored_predictions(settings, run_dir, context=context)[0]
    return drift_baseline(settings, current, run_dir, context=context)


def drift_baseline(settings: Settings, current: pd.DataFrame, run_dir: Path | None = None, *,
                   context: Any = None) -> tuple[pd.DataFrame, dict]:
    """The rows drift is measured against, and their description (source, rows, sha256) for every summary.

    The champion's training data (the reference data plus the trained rows of every production
    snapshot in its lineage), without any row of ``current`` (no shared ``prediction_id``: a
    prediction that was labelled and trained on is not compared with itself), sampled to
    ``drift_baseline_rows`` rows with the seed. A baseline needs ``drift_baseline_min_rows``
    rows; with fewer, or with no champion, or a champion without a lineage record, the
    reference data is the baseline. With ``run_dir``, it is frozen there on first use
    (``reference_data``), so every step of a run compares with the same rows. ``context``: see
    :func:`store_of`.
    """
    ids = _prediction_ids(current)
    return _frozen(run_dir, BASELINE_NAME, lambda: _drift_baseline(settings, ids, context=context),
                   valid=lambda about: about.get("current_ids_sha256") == _ids_sha256(ids))


def _prediction_ids(frame: pd.DataFrame) -> set[int]:
    if "prediction_id" not in frame.columns:
        return set()
    return {int(v) for v in frame["prediction_id"].dropna()}


def _ids_sha256(ids: set[int]) -> str:
    import hashlib

    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()


def _drift_baseline(settings: Settings, current_ids: set[int], *, context: Any = None) -> tuple[pd.DataFrame, dict]:
    from mindpulse.contract import CANONICAL_COLUMNS
    from mindpulse.data import frame_sha256

    columns = [*CANONICAL_COLUMNS, "prediction_id"]
    reference = load_reference(settings).reindex(columns=columns)
    champion = registry_of(settings, context).champion()
    record = champion.metadata.get("lineage") if champion is not None else None
    described: dict = {"model_version": champion.version if champion is not None else None,
                       "sample_cap": settings.drift_baseline_rows, "min_rows": settings.drift_baseline_min_rows,
                       "seed": settings.seed, "current_ids_sha256": _ids_sha256(current_ids), "snapshots": []}
    if champion is None or not record:
        population, source = reference, ("reference data (no champion yet)" if champion is None else
                                         "reference data (the champion has no lineage record)")
        left_out = 0
    else:
        training, snapshot_ids = _champion_training_rows(settings, record, columns, context)
        overlap = training["prediction_id"].isin(current_ids)
        population, left_out = training.loc[~overlap].reset_index(drop=True), int(overlap.sum())
        source, described["snapshots"] = "the champion's training data (reference + trained snapshot rows)", snapshot_ids
        if not snapshot_ids:
            source = "the champion's training data (the reference data)"
        if len(population) < settings.drift_baseline_min_rows:
            source = (f"reference data (the champion's training data holds {len(population)} rows once the current "
                      f"rows are left out, fewer than drift_baseline_min_rows {settings.drift_baseline_min_rows})")
            population, described["snapshots"] = reference, []
    frame = population
    if len(frame) > settings.drift_baseline_rows:
        frame = frame.sample(n=settings.drift_baseline_rows, random_state=settings.seed).sort_index().reset_index(drop=True)
    described.update(source=source, rows=len(frame), population_rows=len(population), current_rows_left_out=left_out,
                     sha256=frame_sha256(frame[list(CANONICAL_COLUMNS)].reset_index(drop=True)))
    return frame, described


def _champion_training_rows(settings: Settings, record: dict, columns: list[str],
                            context: Any = None) -> tuple[pd.DataFrame, list[int]]:
    """The reference plus the trained rows of each snapshot in the lineage ``record``, with their prediction ids."""
    from mindpulse.holdout import recent_slice
    from mindpulse.store.production_store import SnapshotError

    store = store_of(settings, context)
    seed = int(record.get("seed") or 0)
    parts, ids = [load_reference(settings).reindex(columns=columns)], []
    for item in record.get("snapshots") or []:
        if not item.get("rows"):
            continue
        try:
            rows = store.snapshot_frame(item["id"])
        except SnapshotError:
            continue
        trained, _ = recent_slice(rows, snapshot_id=item["id"], seed=seed)
        parts.append(trained.reindex(columns=columns))
        ids.append(item["id"])
    return pd.concat(parts, ignore_index=True), ids


def drift_frames(settings: Settings, current: pd.DataFrame, run_dir: Path | None = None, *,
                 context: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current rows, both with one model's outputs, for the drift comparison (see :func:`drift_inputs`)."""
    reference, current, _ = drift_inputs(settings, current, run_dir, context=context)
    return reference, current


def reference_model(registry, current: pd.DataFrame) -> tuple[str | None, str]:  # noqa: ANN001 - ModelRegistry
    """The model that scores the reference for the drift comparison, and why.

    Like with like: the registered version that produced most of the current rows'
    predictions; the champion when no current row names a version still registered.
    """
    from mindpulse.monitoring.performance import NO_VERSION, version_counts

    counts = {v: n for v, n in version_counts(current).items() if v != NO_VERSION}
    registered = {v.version for v in registry.versions()}
    total = sum(counts.values())
    for version, rows in counts.items():
        if version in registered:
            return version, f"produced {rows} of the {total} current rows' predictions"
    champion = registry.champion()
    if champion is None:
        return None, "no model registered"
    why = "no current row names a model still registered" if counts else "no current row has a prediction"
    return champion.version, f"the champion ({why})"


#: What :func:`drift_inputs` adds to the reference's description: whose outputs were compared.
SCORING_KEYS = ("reference_model", "reference_model_reason", "current_rows_rescored")


def drift_inputs(settings: Settings, current: pd.DataFrame, run_dir: Path | None = None, *,
                 context: Any = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Reference (:func:`champion_reference`) and current rows, both with the same model's outputs, and a description.

    As in Evidently's own preset, prediction drift counts beside feature and target drift. The
    reference is scored by :func:`reference_model` (the model behind most current rows), and
    current rows that another model scored, or that arrived labelled without a prediction, are
    scored by it too, so prediction drift compares one model on two sets of data rather than
    two models. The description names that model (``SCORING_KEYS``). With no model yet,
    features and target alone. With ``run_dir``, the reference and its scores are frozen there
    on first use (see :func:`champion_reference`). ``context``: see :func:`store_of`.
    """
    from mindpulse.contract import CANONICAL_COLUMNS

    reference, described = drift_baseline(settings, current, run_dir, context=context)
    reference = reference.reindex(columns=[*CANONICAL_COLUMNS, "prediction_id"]).reset_index(drop=True)
    registry = registry_of(settings, context)
    version, reason = reference_model(registry, current)
    described = {**described, "reference_model": version, "reference_model_reason": reason, "current_rows_rescored": 0}
    if version is None or current.empty:
        return reference, current, described
    from mindpulse.predict import Predictor

    predictor = Predictor.load(registry, version)

    def scored() -> tuple[pd.DataFrame, dict]:
        return (predictor.predict_frame(reference)[[*reference.columns, "prediction", "probability"]],
                {"model_version": version, "baseline_sha256": described.get("sha256")})

    reference, _ = _frozen(run_dir, "reference_scored", scored, valid=lambda about: about.get("model_version") == version
                           and about.get("baseline_sha256") == described.get("sha256"))
    current = current.copy()
    if {"prediction", "probability"} <= set(current.columns):
        other = current["probability"].isna()
        if "model_version" in current.columns:
            other |= current["model_version"].astype(object) != version
        if other.any():
            scored = predictor.predict_frame(current.loc[other])
            current.loc[other, "probability"] = scored["probability"].to_numpy()
            current.loc[other, "prediction"] = scored["prediction"].to_numpy()
        described["current_rows_rescored"] = int(other.sum())
    else:
        current = predictor.predict_frame(current)[[*current.columns, "prediction", "probability"]]
        described["current_rows_rescored"] = len(current)
    return reference, current, described
