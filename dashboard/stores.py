"""The dashboard's data layer: plain ``param`` classes that call the mindpulse package.

No widgets here: the views (``dashboard.views``) are given these stores and only display what
they return. Every method that a user's action reaches either returns plain data or raises an
exception whose message can be shown as it is (``DashboardError``, ``contract.ContractError``).
Expensive objects (the champion's predictor, the store's engine, the form defaults) are cached
per process, so each browser session costs little.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import param

from mindpulse import contract as c
from mindpulse.dag_ids import DAG_IDS, REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.settings import Settings, get_settings


_cache_lock = threading.Lock()
_predictors: dict[tuple[str, str], Any] = {}
_stores: dict[str, Any] = {}
_defaults: dict[tuple[str, float], dict[str, Any]] = {}


class DashboardError(Exception):
    """A problem the user can act on; its message is shown on the page as it is."""


# --- the production data store and the registry, shared by the stores below -------------------

def production_store(settings: Settings):
    """The production data store for ``settings`` (migrated once per process)."""
    from mindpulse.store import Store

    url = str(settings.database_url)
    with _cache_lock:
        store = _stores.get(url)
        if store is None:
            store = Store.from_settings(settings)  # migrates to the newest schema
            _stores[url] = store
    return store


def model_registry(settings: Settings):
    """The model registry for ``settings`` (cheap: it reads small files when asked)."""
    from mindpulse.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


# --- Predict ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PredictionOutcome:
    """A prediction as the dashboard shows it, with the id it was logged under."""

    prediction_id: int
    probability: float
    label: int
    risk_band: str
    factors: list[str]
    model_version: str
    threshold: float
    record: dict[str, Any] = field(default_factory=dict)


def form_fields() -> list[c.FieldSpec]:
    """The survey fields a person fills in: the model's features, in contract order."""
    return [spec for spec in c.FIELDS if spec.feature]


def _typical_value(spec: c.FieldSpec, column: pd.Series | None) -> Any:
    """The median (numbers) or the most frequent value (categories) of a reference column."""
    if column is not None and column.notna().any():
        if spec.kind == "number":
            value = float(column.median())
            return int(round(value)) if spec.integer else round(value, 2)
        mode = column.mode(dropna=True)
        if len(mode) and mode.iloc[0] in spec.choices:
            return mode.iloc[0]
    if spec.kind == "number":
        middle = (float(spec.minimum) + float(spec.maximum)) / 2
        return int(round(middle)) if spec.integer else middle
    return spec.choices[0]


def form_defaults(settings: Settings) -> dict[str, Any]:
    """Sensible starting values for the form: the reference data's median or mode per field."""
    path = settings.reference_path
    mtime = path.stat().st_mtime if path.is_file() else -1.0
    key = (str(path), mtime)
    with _cache_lock:
        if key in _defaults:
            return dict(_defaults[key])
    if mtime >= 0:
        from mindpulse.data import read_canonical

        reference = read_canonical(path)
    else:  # no reference yet: the generator reproduces the survey's marginals
        from mindpulse.synthetic import generate

        reference = generate(2_000, seed=settings.seed).canonical()
    values = {spec.name: _typical_value(spec, reference.get(spec.name)) for spec in form_fields()}
    with _cache_lock:
        _defaults[key] = values
    return dict(values)


def field_messages(error: c.ContractError) -> dict[str, str]:
    """Each problem of a contract error as a message keyed by the canonical field name."""
    messages: dict[str, str] = {}
    for problem in error.problems:
        name = c.RAW_TO_CANONICAL.get(problem.field, problem.field)
        value = problem.value if problem.value not in ("", "None", "nan") else "nothing"
        messages.setdefault(name, f"Got {value}; expected {problem.expected}.")
    return messages


class PredictionStore(param.Parameterized):
    """Validates a survey answer, asks the champion model for a risk, and logs the prediction."""

    settings = param.ClassSelector(class_=Settings, doc="Where the registry and the store live.")
    last = param.ClassSelector(class_=PredictionOutcome, default=None, allow_None=True,
                               doc="The latest prediction made in this session.")

    def defaults(self) -> dict[str, Any]:
        """Starting values for the form."""
        return form_defaults(self.settings)

    def champion_version(self) -> str | None:
        """The version that would answer now, or None when no model is promoted yet."""
        champion = model_registry(self.settings).champion()
        return None if champion is None else champion.version

    def _predictor(self):
        from mindpulse.predict import Predictor
        from mindpulse.registry import RegistryError

        registry = model_registry(self.settings)
        try:
            champion = registry.champion()
            if champion is None:
                raise DashboardError(
                    "No model has been trained yet: start the retrain pipeline (Pipelines page, forced) "
                    "or run 'mindpulse models train', then try again."
                )
            key = (str(self.settings.artifacts_dir), champion.version)
            with _cache_lock:
                predictor = _predictors.get(key)
            if predictor is None:
                predictor = Predictor.load(registry, champion.version)  # checks the file's sha256
                with _cache_lock:
                    _predictors[key] = predictor
        except RegistryError as exc:
            raise DashboardError(str(exc)) from exc
        return predictor

    def predict(self, values: Mapping[str, Any]) -> PredictionOutcome:
        """Validate ``values`` (canonical names), predict with the champion and log the prediction.

        Raises ``contract.ContractError`` naming each bad field, or ``DashboardError``.
        """
        from mindpulse.predict import canonical_record

        record = canonical_record(values)  # the contract's rules; bad fields raise first
        prediction = self._predictor().predict_record(record)
        prediction_id = production_store(self.settings).log_prediction(
            prediction.record,
            probability=prediction.probability,
            label=prediction.label,
            model_version=prediction.model_version,
        )
        outcome = PredictionOutcome(
            prediction_id=int(prediction_id),
            probability=prediction.probability,
            label=prediction.label,
            risk_band=prediction.risk_band,
            factors=list(prediction.factors),
            model_version=prediction.model_version,
            threshold=prediction.threshold,
            record=prediction.record,
        )
        self.last = outcome
        return outcome


# --- Feedback ---------------------------------------------------------------------------------

class FeedbackStore(param.Parameterized):
    """Records true outcomes: for one logged prediction, or many from a CSV."""

    settings = param.ClassSelector(class_=Settings)
    changes = param.Integer(default=0, doc="Bumped after each stored outcome, so views refresh.")

    @property
    def retrain_threshold(self) -> int:
        """Labelled rows that trigger the next retrain."""
        return int(self.settings.retrain_min_rows)

    def pending_count(self) -> int:
        """Labelled rows waiting for the next retrain."""
        return production_store(self.settings).pending_count()

    def record_outcome(self, prediction_id: int | None, depression: int | None, *, correct: bool = False):
        """Store the true outcome of one logged prediction; returns the store's FeedbackResult.

        Raises ``ContractError`` (bad id or outcome, by field) or ``DashboardError`` (unknown id,
        or a different outcome already recorded and ``correct`` not asked for).
        """
        from mindpulse.store import StoreError

        if prediction_id is None or depression is None:
            problems = []
            if prediction_id is None:
                problems.append(c.Problem(1, "prediction_id", "", "the whole-number id of a logged prediction"))
            if depression is None:
                problems.append(c.Problem(1, c.TARGET, "", "0 (not depressed) or 1 (depressed)"))
            raise c.ContractError(problems, "feedback")
        try:
            result = production_store(self.settings).record_feedback(int(prediction_id), int(depression),
                                                                      correct=correct)
        except StoreError as exc:
            raise DashboardError(str(exc)) from exc
        self.changes += 1
        return result

    def import_csv(self, content: bytes, filename: str = "outcomes.csv"):
        """Validate and store an uploaded CSV; returns the store's FeedbackReport.

        Two formats: outcomes (``prediction_id`` and ``Depression`` columns) or labelled rows in
        the survey's format. Good rows are stored; each bad cell is reported with its line.
        """
        if not content:
            raise DashboardError(f"{filename}: the file is empty; choose a CSV with a header row.")
        with tempfile.TemporaryDirectory(prefix="mindpulse-upload-") as folder:
            path = Path(folder) / (Path(filename).name or "outcomes.csv")
            path.write_bytes(content)
            try:
                report = production_store(self.settings).import_feedback_csv(path)
            except c.ContractError as exc:
                # The message names the temporary copy; the user knows the file by its own name.
                raise DashboardError(f"{filename}: " + "; ".join(str(p) for p in exc.problems)) from exc
        if report.accepted:
            self.changes += 1
        return dataclasses.replace(report, source=filename)


# --- Reports ----------------------------------------------------------------------------------

REPORT_TITLES = {"data_quality": "Data quality", "data_drift": "Data drift", "model_performance": "Model performance"}


@dataclass(frozen=True)
class ReportRun:
    """One report run folder with its key figures and the URLs of what can be opened."""

    run_id: str
    dag_id: str
    folder: Path
    created_at: str
    outcome: str | None
    rows: int | None
    drift_share: float | None
    drift_status: str | None
    accuracy: float | None
    roc_auc: float | None
    reports: dict[str, str]  # title -> static URL of the Evidently HTML
    notebooks: list[Path]  # executed notebooks in the run folder

    @property
    def label(self) -> str:
        """A one-line description for a picker."""
        parts = [self.created_at, f"{self.dag_id} / {self.run_id}"]
        if self.drift_share is not None:
            parts.append(f"drift {self.drift_share:.0%}")
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.3f}")
        return " · ".join(parts)


def _number(value: Any) -> float | None:
    """A float, or None for missing or NaN values."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class ReportStore(param.Parameterized):
    """Lists report runs and gives static URLs for their HTML, never their bytes."""

    settings = param.ClassSelector(class_=Settings)
    static_url = param.String(default="/reports", doc="URL under which settings.reports_dir is served.")

    def url_for(self, path: Path) -> str:
        """The static URL of a file inside the reports folder."""
        relative = Path(path).resolve().relative_to(Path(self.settings.reports_dir).resolve())
        return f"{self.static_url.rstrip('/')}/{quote(relative.as_posix())}"

    def runs(self) -> list[ReportRun]:
        """Report runs, newest first."""
        from mindpulse.monitoring import list_report_runs

        return [self._run(entry) for entry in list_report_runs(self.settings.reports_dir)]

    def _run(self, entry: Mapping[str, Any]) -> ReportRun:
        folder = Path(entry["path"])
        reports: dict[str, str] = {}
        for kind, files in entry["reports"].items():
            if files.get("html"):
                reports[REPORT_TITLES.get(kind, kind)] = self.url_for(folder / files["html"])
        listed = {folder / files["html"] for files in entry["reports"].values() if files.get("html")}
        for relative in entry["html"]:  # other HTML the run left (not a rendered notebook)
            if folder / relative not in listed:
                reports[Path(relative).stem.replace("_", " ").capitalize()] = self.url_for(folder / relative)
        rows = entry.get("rows")
        return ReportRun(
            run_id=str(entry["run_id"]),
            dag_id=str(entry["dag_id"]),
            folder=folder,
            created_at=str(entry["created_at"]),
            outcome=entry.get("outcome"),
            rows=None if rows is None else int(rows),
            drift_share=_number(entry.get("drift_share")),
            drift_status=entry.get("drift_status"),
            accuracy=_number(entry.get("accuracy")),
            roc_auc=_number(entry.get("roc_auc")),
            reports=reports,
            notebooks=[folder / relative for relative in entry["notebooks"]],
        )

    def notebook_pages(self, run: ReportRun) -> dict[str, str]:
        """Each executed notebook of a run rendered to HTML beside it: title -> static URL."""
        return {nb.stem.replace("_", " "): self.url_for(render_notebook(nb)) for nb in run.notebooks}


def render_notebook(notebook: Path) -> Path:
    """Render an executed notebook to HTML beside it, once (again only when it changed)."""
    target = notebook.with_suffix(".html")
    if target.is_file() and target.stat().st_mtime >= notebook.stat().st_mtime:
        return target
    import nbformat
    from nbconvert import HTMLExporter

    from mindpulse.io import atomic_write_text

    node = nbformat.read(notebook, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(node)
    atomic_write_text(target, body)
    return target


# --- Models -----------------------------------------------------------------------------------

class ModelStore(param.Parameterized):
    """The registry's versions, the champion and its backup, and rollback."""

    settings = param.ClassSelector(class_=Settings)
    changes = param.Integer(default=0, doc="Bumped after each rollback, so views refresh.")

    def versions(self) -> list[Any]:
        """Every kept model version, newest first."""
        return sorted(model_registry(self.settings).versions(), key=lambda v: v.number, reverse=True)

    def champion(self):
        return model_registry(self.settings).champion()

    def backup(self):
        return model_registry(self.settings).backup()

    def table(self) -> pd.DataFrame:
        """One row per version: status, metrics, data size and why it was refused, if it was."""
        return pd.DataFrame([version_row(v) for v in self.versions()], columns=VERSION_COLUMNS)

    def rollback_targets(self) -> list[str]:
        """Versions a rollback may go to: the backup and other former champions, newest first."""
        return [v.version for v in self.versions() if v.status in ("backup", "archived")]

    def rollback(self, to: str | None = None):
        """Make ``to`` (default: the backup) the champion; returns the new champion."""
        from mindpulse.registry import RegistryError

        try:
            champion = model_registry(self.settings).rollback(to)
        except RegistryError as exc:
            raise DashboardError(str(exc)) from exc
        self.changes += 1
        return champion


VERSION_COLUMNS = ["version", "status", "holdout_roc_auc", "holdout_accuracy", "train_rows", "note", "model",
                   "data_source", "created_at"]


def version_row(version: Any) -> dict[str, Any]:
    """The figures shown for one model version, and why the gate refused it if it did."""
    meta = version.metadata
    data = meta.get("data") or {}
    gate = meta.get("gate") or {}
    return {
        "version": version.version,
        "status": version.status,
        "model": (meta.get("model") or {}).get("name"),
        "holdout_roc_auc": version.metric("holdout", "roc_auc"),
        "holdout_accuracy": version.metric("holdout", "accuracy"),
        "train_rows": data.get("rows"),
        "data_source": data.get("source"),
        "created_at": version.created_at,
        "note": meta.get("refusal_reason") or gate.get("reason") or "",
    }


# --- Pipelines --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PipelineState:
    """What Airflow says about the two pipelines."""

    runs: dict[str, pd.DataFrame]  # dag id -> recent runs, newest first
    paused: list[str]  # dag ids whose new runs wait until the DAG is unpaused


class PipelineStore(param.Parameterized):
    """Recent runs of the two DAGs and triggers, through Airflow's REST API."""

    settings = param.ClassSelector(class_=Settings)
    changes = param.Integer(default=0, doc="Bumped after each triggered run.")

    def _call(self, action):
        """Run ``action(client)``; Airflow's failures become messages a user can act on."""
        from mindpulse.airflow_client import AirflowApiError, AirflowClient, AirflowUnavailable

        url = self.settings.airflow_api_url
        try:
            with AirflowClient.from_settings(self.settings) as client:
                return action(client)
        except AirflowUnavailable as exc:
            raise DashboardError(
                f"Airflow is not reachable at {url}: start it (the platform's Airflow, e.g. 'make run') or "
                "point MINDPULSE_AIRFLOW_API_URL at it. Predictions and feedback work without it."
            ) from exc
        except AirflowApiError as exc:
            if exc.status_code in (401, 403):
                hint = "check MINDPULSE_AIRFLOW_USERNAME and MINDPULSE_AIRFLOW_PASSWORD"
            elif exc.status_code == 404:
                hint = "is the DAG deployed (dags/ folder) and parsed?"
            else:
                hint = "see Airflow's own log"
            raise DashboardError(f"Airflow at {url} refused the request ({exc}); {hint}.") from exc

    def recent_runs(self, limit: int = 10) -> PipelineState:
        """The latest runs of each DAG (run id, state, times, conf), newest first, and which DAGs are paused."""
        def read(client) -> PipelineState:
            runs = {dag_id: runs_frame(client.list_runs(dag_id, limit=limit)) for dag_id in DAG_IDS}
            paused = [dag_id for dag_id in DAG_IDS if client.get_dag(dag_id).get("is_paused")]
            return PipelineState(runs=runs, paused=paused)

        return self._call(read)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run of ``dag_id`` now; returns its run id."""
        run = self._call(lambda client: client.trigger(dag_id, conf=dict(conf or {})))
        self.changes += 1
        return str(run["dag_run_id"])

    def trigger_retrain(self, force: bool = False) -> str:
        """Start the retrain pipeline; ``force`` retrains even without enough new labels or drift."""
        return self.trigger(RETRAIN_DAG_ID, {"force": True} if force else {})

    def trigger_reporting(self) -> str:
        """Start the reporting pipeline."""
        return self.trigger(REPORTING_DAG_ID, {})


RUN_COLUMNS = ["run_id", "state", "run_type", "start_date", "end_date", "conf"]


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Airflow's DAG run records as a table."""
    rows = []
    for run in runs:
        rows.append({
            "run_id": run.get("dag_run_id"),
            "state": run.get("state"),
            "run_type": run.get("run_type"),
            "start_date": run.get("start_date"),
            "end_date": run.get("end_date"),
            "conf": json.dumps(run.get("conf") or {}, sort_keys=True),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


# --- everything together ----------------------------------------------------------------------

class DashboardStore(param.Parameterized):
    """All the stores of one dashboard session, sharing one settings object."""

    settings = param.ClassSelector(class_=Settings)
    predictions = param.ClassSelector(class_=PredictionStore)
    feedback = param.ClassSelector(class_=FeedbackStore)
    reports = param.ClassSelector(class_=ReportStore)
    models = param.ClassSelector(class_=ModelStore)
    pipelines = param.ClassSelector(class_=PipelineStore)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, static_url: str = "/reports") -> "DashboardStore":
        settings = settings or get_settings()
        return cls(
            settings=settings,
            predictions=PredictionStore(settings=settings),
            feedback=FeedbackStore(settings=settings),
            reports=ReportStore(settings=settings, static_url=static_url),
            models=ModelStore(settings=settings),
            pipelines=PipelineStore(settings=settings),
        )
