"""A demo home: reference data, a first champion and simulated production traffic with feedback.

What `make run`, the notebooks' own checks and the tests start from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse.pipeline.sources import _reference, _registry, _store
from mindpulse.settings import Settings


def train_first_champion(settings: Settings, *, seed: int | None = None, candidates: list[str] | None = None) -> str | None:
    """Train a champion on the reference data when the registry has none; returns the champion's version."""
    from mindpulse import lineage, train

    registry = _registry(settings)
    champion = registry.champion()
    if champion is not None:
        return champion.version
    kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
    reference = _reference(settings)
    record = {"run": None, "reference": lineage.reference_record(settings, reference), "snapshots": [],
              "window": None, "seed": settings.seed, "recent": {"snapshots": [], "rows": 0}}
    outcome = train.train_and_gate(reference, registry, seed=settings.seed if seed is None else seed,
                                   margin=settings.promotion_margin, data_source="reference data (first champion)",
                                   lineage=record, **kwargs)
    return outcome.champion_after


def simulate_production_traffic(settings: Settings, *, days: int = 4, rows_per_day: int = 300, drift_days: int = 2,
                                scenario: str = "exam_season", strength: float = 1.0, feedback_share: float = 1.0,
                                seed: int = 1, unlabelled_rows: int = 0) -> dict[str, Any]:
    """Serve synthetic students with the champion, day by day, and feed back their true outcomes.

    The last ``drift_days`` days come from the ``scenario`` (exam season: more pressure and
    study hours, less sleep). Every prediction goes through the store as the dashboard's would;
    ``feedback_share`` of them receive their outcome (one feedback CSV import per day). Then
    ``unlabelled_rows`` more students of the last day's kind are served, whose outcomes have
    not arrived yet (what the label-free estimate works on).
    """
    import tempfile

    import numpy as np

    from mindpulse.io import atomic_write_csv
    from mindpulse.predict import Predictor
    from mindpulse.synthetic import generate

    store = _store(settings)
    predictor = Predictor.load(_registry(settings))
    rng = np.random.default_rng(seed)
    logged = labelled = 0
    first_id = 1_000_000 + store.stats()["rows_total"]
    for day in range(days):
        drifted = day >= days - drift_days
        data = generate(rows_per_day, seed=seed * 1000 + day, scenario=scenario if drifted else "none",
                        strength=strength, id_start=first_id + day * rows_per_day)
        students = data.canonical()
        outcomes = students["depression"].astype(int).to_numpy()
        scored = predictor.predict_frame(students.assign(depression=pd.array([pd.NA] * len(students), dtype="Int64")))
        ids = store.log_predictions(scored)
        logged += len(ids)
        answered = rng.random(len(ids)) < feedback_share
        feedback = pd.DataFrame({"prediction_id": np.asarray(ids)[answered], "Depression": outcomes[answered]})
        with tempfile.TemporaryDirectory() as folder:
            path = atomic_write_csv(Path(folder) / "feedback.csv", feedback)
            labelled += store.import_feedback_csv(path, strict=True).accepted
    if unlabelled_rows:
        data = generate(int(unlabelled_rows), seed=seed * 1000 + days, scenario=scenario if drift_days else "none",
                        strength=strength, id_start=first_id + days * rows_per_day)
        students = data.canonical()
        scored = predictor.predict_frame(students.assign(depression=pd.array([pd.NA] * len(students), dtype="Int64")))
        logged += len(store.log_predictions(scored))
    return {"predictions_logged": logged, "feedback_recorded": labelled, "days": days, "drift_days": drift_days,
            "model_version": predictor.version, "pending": store.pending_count()}


def prepare_demo_home(settings: Settings, *, reference_rows: int = 27_901, days: int = 4, rows_per_day: int = 300,
                      drift_days: int = 2, seed: int | None = None, candidates: list[str] | None = None,
                      unlabelled_rows: int = 0) -> dict[str, Any]:
    """Reference data (synthetic when none), a first champion, and production traffic with feedback.

    Traffic is simulated only while fewer labelled rows than ``retrain_min_rows`` wait, so
    running it again tops the store up instead of piling rows on.
    """
    from mindpulse.data import generate_reference

    seed = settings.seed if seed is None else seed
    done: dict[str, Any] = {}
    if not settings.reference_path.is_file():
        summary = generate_reference(settings, rows=reference_rows, seed=seed)
        done["reference"] = f"generated {summary.rows_loaded} rows"
    else:
        done["reference"] = "kept"
    done["champion"] = train_first_champion(settings, seed=seed, candidates=candidates)
    pending = _store(settings).pending_count()
    if pending < settings.retrain_min_rows:
        traffic = simulate_production_traffic(settings, days=days, rows_per_day=rows_per_day, drift_days=drift_days,
                                              seed=seed + pending + 1, unlabelled_rows=unlabelled_rows)
        done["traffic"] = traffic
    else:
        done["traffic"] = {"pending": pending, "note": "enough labelled rows already wait; none added"}
    return done
