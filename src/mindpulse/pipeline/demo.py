"""A demo home: reference data, a first champion and simulated production traffic with feedback.

What `make run` on an empty home, the notebooks' own checks and the tests start from. A home is a
demo home only when it was made one while empty (``platform run`` on an empty home, or
``--demo``); the fact is kept in ``data/demo.json``, with when the simulated traffic was added, so
demo rows go into a home once and never into a home holding a user's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse.pipeline.records import utc_now
from mindpulse.pipeline.sources import load_reference, open_registry, open_store
from mindpulse.settings import Settings

DEMO_MARKER = "demo.json"


class DemoRefused(ValueError):
    """Demo data asked for in a home that holds a user's data, or none asked for where it is needed."""


def demo_marker_path(settings: Settings) -> Path:
    """The record that makes a home a demo home (``data/demo.json``)."""
    return settings.data_dir / DEMO_MARKER


def read_demo_marker(settings: Settings) -> dict[str, Any] | None:
    """The demo record of the home, or None when the home is not a demo home."""
    path = demo_marker_path(settings)
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DemoRefused(f"{path}: unreadable demo record ({exc}); restore it, or remove it if this home "
                          "holds your own data") from None
    if not isinstance(marker, dict):
        raise DemoRefused(f"{path}: expected a JSON object (the demo record); restore it, or remove it if this "
                          "home holds your own data")
    return marker


def _write_marker(settings: Settings, marker: dict[str, Any]) -> None:
    from mindpulse.io import atomic_write_json

    atomic_write_json(demo_marker_path(settings), marker)


def user_data_in(settings: Settings) -> str | None:
    """What in the home is a user's data (an ingested reference, rows in the store), or None.

    Rows the demo itself added (recorded in its marker) are not a user's.
    """
    from mindpulse.data import reference_origin

    if reference_origin(settings) == "ingested":
        return f"reference data ingested from a file ({settings.reference_path})"
    marker = read_demo_marker(settings)
    if marker is None or not marker.get("traffic_added_at"):
        rows = open_store(settings).stats()["rows_total"]
        if rows:
            return f"{rows} row(s) in the production store"
    return None


def is_empty_home(settings: Settings) -> bool:
    """No reference data, no registered model and nothing in the production store."""
    if settings.reference_path.is_file() or open_registry(settings).versions():
        return False
    return open_store(settings).stats()["rows_total"] == 0


@dataclass(frozen=True)
class DemoDecision:
    """Whether a home is (or now becomes) a demo home, and why, in words for the operator."""

    demo: bool
    reason: str


def decide_demo(settings: Settings, asked: bool | None) -> DemoDecision:
    """Demo home or not: ``asked`` is ``--demo`` (True), ``--no-demo`` (False) or neither (None).

    A home already marked stays a demo home; an empty home becomes one unless ``--no-demo``;
    ``--demo`` on a home holding a user's data is refused (:class:`DemoRefused`); any other home
    is a real-data home and gets no demo data.
    """
    marker = read_demo_marker(settings)
    if asked is False:
        return DemoDecision(False, "--no-demo")
    if marker is not None:
        return DemoDecision(True, f"a demo home since {marker.get('created_at', '?')}")
    if asked:
        found = user_data_in(settings)
        if found:
            raise DemoRefused(f"--demo: {settings.home} holds {found}; demo data goes only into an empty home "
                              "(or one that is already a demo home)")
        return DemoDecision(True, "--demo")
    if is_empty_home(settings):
        return DemoDecision(True, "an empty home (run with --no-demo to leave it empty)")
    return DemoDecision(False, "not a demo home")


def mark_demo_home(settings: Settings, *, seed: int, by: str) -> dict[str, Any]:
    """Record that the home is a demo home (once; the first record is kept)."""
    marker = read_demo_marker(settings)
    if marker is None:
        marker = {"created_at": utc_now(), "created_by": by, "seed": seed, "reference": None, "traffic_added_at": None}
        _write_marker(settings, marker)
    return marker


def require_reference(settings: Settings) -> None:
    """A home that is not a demo home must hold the user's reference data: a clear error otherwise."""
    if not settings.reference_path.is_file():
        raise DemoRefused(f"{settings.reference_path}: no reference data in this home; ingest your CSV first "
                          "('mindpulse ingest student_depression_dataset.csv'), or run with --demo on an empty home "
                          "for synthetic demo data")


def generate_demo_reference(settings: Settings, *, rows: int = 27_901, seed: int) -> str:
    """Synthetic reference data for a demo home that has none, recorded in its marker; what was done."""
    from mindpulse.data import generate_reference

    marker = read_demo_marker(settings)
    if marker is None:
        raise DemoRefused(f"{settings.home} is not a demo home: synthetic reference data goes only into a demo home")
    if settings.reference_path.is_file():
        return f"Reference data: {settings.reference_path} (kept)"
    summary = generate_reference(settings, rows=rows, seed=seed)
    _write_marker(settings, {**marker, "reference": {"rows": summary.rows_loaded, "sha256": summary.sha256,
                                                     "created_at": summary.created_at}})
    return summary.describe()


def add_demo_traffic(settings: Settings, *, days: int = 4, rows_per_day: int = 300, drift_days: int = 2,
                     seed: int, unlabelled_rows: int = 0) -> dict[str, Any] | str:
    """Simulated traffic for a demo home, once: the traffic summary, or why none was added.

    None is added to a home that is not a demo home, that already got its traffic, or that holds a
    user's data (an ingested reference, or any row in the store). The marker records the traffic
    after it is stored; a crash in between leaves rows in the store, which is enough to add none again.
    """
    marker = read_demo_marker(settings)
    if marker is None:
        return "not a demo home"
    if marker.get("traffic_added_at"):
        return f"the demo traffic was added on {marker['traffic_added_at']}"
    found = user_data_in(settings)
    if found:
        return f"the home holds {found}"
    traffic = simulate_production_traffic(settings, days=days, rows_per_day=rows_per_day, drift_days=drift_days,
                                          seed=seed, unlabelled_rows=unlabelled_rows)
    _write_marker(settings, {**marker, "traffic_added_at": utc_now(),
                             "traffic": {k: traffic[k] for k in ("predictions_logged", "feedback_recorded", "days",
                                                                 "drift_days", "model_version")}})
    return traffic


def train_first_champion(settings: Settings, *, seed: int | None = None, candidates: list[str] | None = None) -> str | None:
    """Train a champion on the reference data when the registry has none; returns the champion's version."""
    from mindpulse import lineage, train

    registry = open_registry(settings)
    champion = registry.champion()
    if champion is not None:
        return champion.version
    kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
    reference = load_reference(settings)
    record = {"run": None, "reference": lineage.reference_record(settings, reference), "snapshots": [],
              "window": None, "seed": settings.seed, "recent": {"snapshots": [], "rows": 0}}
    outcome = train.train_register_and_judge(reference, registry, seed=settings.seed if seed is None else seed,
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

    store = open_store(settings)
    predictor = Predictor.load(open_registry(settings))
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
    """Make ``settings.home`` a demo home: reference data (synthetic when none), a first champion,
    and production traffic with feedback, added once.

    Refused (:class:`DemoRefused`) on a home that holds a user's data and is not a demo home already.
    """
    seed = settings.seed if seed is None else seed
    decide_demo(settings, asked=True)  # refuses a home holding a user's data
    mark_demo_home(settings, seed=seed, by="prepare_demo_home")
    done: dict[str, Any] = {"reference": generate_demo_reference(settings, rows=reference_rows, seed=seed)}
    done["champion"] = train_first_champion(settings, seed=seed, candidates=candidates)
    traffic = add_demo_traffic(settings, days=days, rows_per_day=rows_per_day, drift_days=drift_days,
                               seed=seed + 1, unlabelled_rows=unlabelled_rows)
    done["traffic"] = traffic if isinstance(traffic, dict) else {"note": f"none added: {traffic}"}
    return done
