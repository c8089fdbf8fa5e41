"""One settings object for the whole platform, read from ``MINDPULSE_*`` environment variables.

Nothing is created or configured on import: folders are made by the code that writes into
them, and :func:`get_settings` reads the environment only when called.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_home() -> Path:
    return Path.cwd()


def project_dir() -> Path | None:
    """The project folder the package runs from (an editable install of a checkout), or None.

    The code's folders (``dags/``, ``notebooks/``, ``dashboard/``) live there, apart from any
    home: several homes can share one install. An installed wheel has no such folder.
    """
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "mindpulse").is_dir() else None


def _code_folder(name: str, home: Path) -> Path:
    """``name`` in the project folder when it is there, else inside ``home`` (e.g. the image's /opt/mindpulse)."""
    root = project_dir()
    if root is not None and (root / name).is_dir():
        return root / name
    return home / name


#: The code's folders: the setting that names each and what it holds (for errors).
CODE_FOLDERS = {"dags_dir": ("MINDPULSE_DAGS_DIR", "dags", "the Airflow DAG files"),
                "notebooks_dir": ("MINDPULSE_NOTEBOOKS_DIR", "notebooks", "the pipeline's notebooks")}


class Settings(BaseSettings):
    """Platform settings. Every field reads ``MINDPULSE_<FIELD NAME>`` from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MINDPULSE_",
        env_file=None,
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(default_factory=_default_home, description="The home: data, artifacts and reports default inside it (any folder, even an empty one). Default: the current folder.")
    data_dir: Path | None = Field(default=None, description="Reference, raw, rejected and archived data (and the SQLite store). Default: HOME/data.")
    artifacts_dir: Path | None = Field(default=None, description="The model registry. Default: HOME/artifacts.")
    reports_dir: Path | None = Field(default=None, description="Evidently reports and per-run audit records. Default: HOME/reports.")
    dags_dir: Path | None = Field(default=None, description="The Airflow DAG files (the DAG folder of make run). Default: the project's dags/ (the checkout the package is installed from), else HOME/dags.")
    notebooks_dir: Path | None = Field(default=None, description="The pipeline's notebooks. Default: the project's notebooks/, else HOME/notebooks.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the production data store; PostgreSQL: postgresql+psycopg://USER@HOST/DB. Default: SQLite file DATA_DIR/mindpulse.db.",
    )

    seed: int = Field(default=42, description="Default random seed for generation, splits and models.")
    retrain_min_rows: int = Field(default=1000, ge=1, description="Labelled production rows that trigger a retrain.")
    feature_drift_threshold: float = Field(default=0.3, gt=0, le=1, description="Retrain trigger: share of the 13 model features that drifted, above which a retrain is triggered (more than 30 % by default).")
    prediction_drift_threshold: float = Field(default=0.1, gt=0, description="Retrain trigger: drift score of the champion's predicted probability (Wasserstein distance normed by the reference's std) at or above which a retrain is triggered.")
    drift_min_rows: int = Field(default=500, ge=1, description="Drift is decided on at least this many current rows (recent predictions, labelled or not); fewer give 'not enough data' instead of a decision.")
    monitoring_sample_cap: int = Field(default=50_000, ge=1000, description="Rows sampled from larger inputs before Evidently runs.")
    monitoring_window_days: int = Field(default=30, ge=1, description="Monitoring (the reporting DAG and the retrain DAG's drift trigger) looks at the predictions logged in the last N days, labelled or not.")
    monitoring_max_rows: int = Field(default=20_000, ge=1, description="At most this many of those predictions, the newest first.")
    drift_baseline_rows: int = Field(default=10_000, ge=100, description="The drift baseline is a seeded sample of at most this many rows of the champion's training data (none of them a current row).")
    drift_baseline_min_rows: int = Field(default=1_000, ge=1, description="A baseline drawn from the champion's training data needs at least this many rows once the current rows are left out; with fewer, the reference data is the baseline.")
    performance_min_labelled_rows: int = Field(default=50, ge=1, description="Realized performance is measured on at least this many labelled predictions of a run; fewer skip that part alone (drift and the estimate still run).")
    outcome_request_rows: int = Field(default=50, ge=1, description="When drift fires and no new outcomes exist, a retrain run asks for the outcomes of this many predictions of the drifted cohort (a stratified sample).")
    reports_keep: int = Field(default=10, ge=1, description="Skipped and reported runs (and hand runs) kept per DAG; older ones are deleted whole. Runs that promoted, refused or failed are always kept.")
    promotion_margin: float = Field(default=0.005, ge=0, le=1, description="ROC-AUC a challenger may lose: refused when the 95 % interval of (challenger - champion) on the fixed holdout or the recent slice lies below -margin, or its fixed-holdout ROC-AUC is below the best promoted model's minus this margin.")
    models_keep: int = Field(default=10, ge=2, description="Newest model versions kept; the champion, its backup, the last FORMER_CHAMPIONS_KEEP former champions and versions named by kept run records are kept too.")
    former_champions_keep: int = Field(default=3, ge=1, description="Former champions pruning never deletes (the most recent ones), so a rollback always has somewhere to go.")
    train_n_jobs: int = Field(default=2, ge=1, description="Threads of the random forest's fits in training (a 2-core machine by default).")
    train_xgboost_n_jobs: int = Field(default=1, ge=1, description="Threads of XGBoost's fits in training. 1: its OpenMP threads spin while they wait, and on a busy 2-core machine two threads were 17 times slower than one (26 s against 1.5 s for the same fit); raise it on a machine with idle cores.")
    train_blas_threads: int = Field(default=1, ge=1, description="BLAS threads while the candidates are cross-validated. 1: OpenBLAS threads spin while they wait, and on a busy 2-core machine the logistic regression's cross-validation took 17 s with two, 2.7 s with one.")
    group_columns: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Canonical columns judged and reported per group besides gender and age band (comma-separated, e.g. 'city,degree'). Default: none.")
    group_min_size: int = Field(default=200, ge=1, description="A group with fewer holdout rows than this (or without both outcomes) is reported on the model card, never judged by the gate.")
    group_margin: float = Field(default=0.02, ge=0, le=1, description="ROC-AUC a challenger may lose within one group: refused when the 95 % interval of (challenger - champion) on that group's holdout rows lies below -margin.")
    promotion_approval: Literal["auto", "required"] = Field(default="auto", description="'auto': a challenger that passes the gate becomes champion. 'required': it waits for an admin's approval (Airflow's Required Actions, or the dashboard's Models page).")
    approval_timeout_hours: float = Field(default=72, gt=0, description="With PROMOTION_APPROVAL=required, a request not answered within this many hours ends as 'not approved' (a refusal with its reason).")
    training_window_days: int | None = Field(default=None, ge=1, description="Only production snapshots claimed in the last N days join a retrain's training data (the reference always does). Unset: every archived snapshot.")

    webhook_url: str | None = Field(default=None, description="Optional URL that receives a JSON POST for each pipeline notification.")
    smtp_host: str | None = Field(default=None, description="Optional SMTP server for e-mail notifications.")
    smtp_port: int = Field(default=25, description="SMTP port.")
    email_from: str | None = Field(default=None, description="Sender address for e-mail notifications.")
    email_to: str | None = Field(default=None, description="Comma-separated recipients for e-mail notifications.")

    airflow_api_url: str = Field(default="http://127.0.0.1:8080", description="Airflow API server the dashboard talks to.")
    airflow_username: str | None = Field(default=None, description="Airflow user for the REST API (token via /auth/token).")
    airflow_password: str | None = Field(default=None, description="Password of that user; standalone mode writes one to AIRFLOW_HOME.")
    pipeline_retries: int = Field(default=1, ge=0, le=5, description="Retries of each pipeline DAG task before its run fails (0 in tests).")
    pipeline_retry_delay_seconds: int = Field(default=15, ge=0, description="Wait before a failed pipeline task is retried.")
    pipeline_task_timeout_minutes: int = Field(default=60, ge=1, description="A pipeline DAG task running longer than this is stopped and fails (execution_timeout).")
    pipeline_run_timeout_minutes: int = Field(default=120, ge=1, description="A pipeline DAG run older than this is stopped (dagrun_timeout); a retrain's claim older than this whose run is not running is swept.")

    prediction_retention_days: int | None = Field(default=None, ge=1, description="Predictions that received no outcome within this many days are deleted by the daily retrain run (and 'mindpulse store expire'). Unset: kept until erased.")
    api_max_batch_rows: int = Field(default=10_000, ge=1, description="Records one POST /api/v1/predictions or /api/v1/outcomes may carry; a larger batch is refused whole.")
    api_token_days: int = Field(default=90, ge=1, description="Days an API token lives when 'mindpulse tokens create' is given no --days.")
    login_max_failures: int = Field(default=5, ge=1, description="Failed sign-ins allowed per account and per client address within LOGIN_WINDOW_SECONDS; further attempts are refused (HTTP 429) until the window has passed.")
    login_window_seconds: int = Field(default=300, ge=1, description="The window of LOGIN_MAX_FAILURES, in seconds.")

    @field_validator("group_columns", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _fill_folders(self) -> "Settings":
        self.data_dir = (self.data_dir or self.home / "data").expanduser().resolve()
        self.artifacts_dir = (self.artifacts_dir or self.home / "artifacts").expanduser().resolve()
        self.reports_dir = (self.reports_dir or self.home / "reports").expanduser().resolve()
        self.dags_dir = (self.dags_dir or _code_folder("dags", self.home)).expanduser().resolve()
        self.notebooks_dir = (self.notebooks_dir or _code_folder("notebooks", self.home)).expanduser().resolve()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'mindpulse.db'}"
        return self

    def require_code_folder(self, field: str) -> Path:
        """The folder of ``field`` (``dags_dir`` or ``notebooks_dir``); FileNotFoundError naming its setting when missing."""
        variable, name, what = CODE_FOLDERS[field]
        folder: Path = getattr(self, field)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder ({what}); set {variable} to the project's {name}/ folder")
        return folder

    # Well-known paths, so no caller builds them by hand.
    @property
    def dashboard_app(self) -> Path:
        """The dashboard's Panel app: ``app.py`` of the installed ``dashboard`` package, else HOME's."""
        spec = importlib.util.find_spec("dashboard")
        if spec is not None and spec.origin is not None:
            return Path(spec.origin).resolve().parent / "app.py"
        return _code_folder("dashboard", self.home) / "app.py"

    @property
    def reference_path(self) -> Path:
        """The clean reference data, in the canonical form."""
        return self.data_dir / "reference.csv"

    @property
    def raw_dir(self) -> Path:
        """Immutable input files in the real CSV's format."""
        return self.data_dir / "raw"

    @property
    def rejects_dir(self) -> Path:
        """Rows set aside by validation, with the reason for each."""
        return self.data_dir / "rejects"

    @property
    def archive_dir(self) -> Path:
        """Production data exports of each successful retrain."""
        return self.data_dir / "archive"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the current environment (cached; call ``get_settings.cache_clear()`` after changing it)."""
    return Settings()
