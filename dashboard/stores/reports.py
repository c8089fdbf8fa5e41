"""The Reports page's store: report runs, their figures, and static URLs for their HTML."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import param

from mindpulse.settings import Settings
from mindpulse.steps import RunSummary


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
    columns_drift_share: float | None  # share of the 13 model features that drifted
    drift_status: str | None
    accuracy: float | None
    roc_auc: float | None
    reports: dict[str, str]  # title -> static URL of the Evidently HTML
    notebooks: list[Path]  # executed notebooks in the run folder
    model_versions: dict[str, int] = field(default_factory=dict)  # rows per model behind their predictions
    reference_model: str | None = None  # the model that scored the reference for the drift comparison
    performance_by_version: dict[str, dict[str, Any]] | None = None  # when the rows mix model versions
    hand_run: bool = False  # a notebook run by hand (interactive__...), not a pipeline run
    figures_by: str | None = None  # the model version(s) behind accuracy and ROC-AUC
    estimated: dict[str, Any] | None = None  # CBPE estimate: model_version, rows, roc_auc, accuracy, f1
    retrain_models: str | None = None  # a retrain run: challenger and champion before -> after

    @property
    def models(self) -> str:
        """'v0002-… (900 rows), v0001-… (300 rows)'; for a retrain run its challenger and champions; '' when the run does not say."""
        if self.model_versions:
            return ", ".join(f"{version} ({rows:,} rows)" for version, rows in self.model_versions.items())
        return self.retrain_models or ""

    @property
    def estimate(self) -> str:
        """'ROC-AUC 0.900 by v0002-… on 2,000 unlabelled rows (CBPE)', or ''."""
        e = self.estimated or {}
        if e.get("roc_auc") is None:
            return ""
        return f"ROC-AUC {e['roc_auc']:.3f} by {e.get('model_version')} on {int(e.get('rows') or 0):,} unlabelled rows (CBPE)"

    @property
    def label(self) -> str:
        """A one-line description for a picker."""
        parts = [self.created_at, f"{self.dag_id} / {self.run_id}"]
        if self.hand_run:
            parts.insert(0, "hand run")
        if self.columns_drift_share is not None:
            parts.append(f"features drifted {self.columns_drift_share:.0%}")
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.3f}")
        return " · ".join(parts)


def _number(value: Any) -> float | None:
    """A float, or None for missing or NaN values."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _retrain_models(summary: RunSummary | None) -> str | None:
    """'challenger v0002-… · champion v0001-… → v0002-…' for a retrain run's summary; None otherwise."""
    if summary is None or not summary.is_retrain:
        return None
    before, after = summary.model_before, summary.model_after
    champion = f"champion {before}" if before == after else f"champion {before} → {after}"
    return f"challenger {summary.challenger} · {champion}" if summary.challenger else champion


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
        summary = entry.get("summary")  # mindpulse.steps.RunSummary, or None
        models = (summary.models if summary else None) or {}
        return ReportRun(
            run_id=str(entry["run_id"]),
            dag_id=str(entry["dag_id"]),
            folder=folder,
            created_at=str(entry["created_at"]),
            outcome=entry.get("outcome"),
            rows=None if rows is None else int(rows),
            columns_drift_share=_number(entry.get("drift_share")),
            drift_status=entry.get("drift_status"),
            accuracy=_number(entry.get("accuracy")),
            roc_auc=_number(entry.get("roc_auc")),
            reports=reports,
            notebooks=[folder / relative for relative in entry["notebooks"]],
            model_versions=dict(sorted(((str(k), int(v)) for k, v in (models.get("current_rows_by_version") or {}).items()),
                                       key=lambda item: (-item[1], item[0]))),  # most rows first
            reference_model=models.get("reference_scored_by"),
            performance_by_version=models.get("performance_by_version"),
            hand_run=bool(entry.get("hand_run")),
            figures_by=entry.get("figures_by"),
            estimated=entry.get("estimated"),
            retrain_models=_retrain_models(summary),
        )

    def notebook_pages(self, run: ReportRun) -> dict[str, str]:
        """Each executed notebook of a run rendered to HTML beside it, in step order: title -> static URL."""
        return {nb.stem.replace("_", " "): self.url_for(render_notebook(nb))
                for nb in sorted(run.notebooks, key=step_order)}


def step_order(notebook: Path) -> tuple[str, str, float]:
    """Sort key putting a run's executed notebooks in the order the pipeline ran them.

    Papermill records the source notebook (``notebooks/retrain/01_check_production_data.ipynb``:
    its number is the step's place) and the start time; a notebook without them goes by its
    modification time.
    """
    try:
        with notebook.open(encoding="utf-8") as handle:
            papermill = (json.load(handle).get("metadata") or {}).get("papermill") or {}
        mtime = notebook.stat().st_mtime
    except (OSError, ValueError):
        return ("~", "~", 0.0)
    source = Path(str(papermill.get("input_path") or "")).name
    return (source or "~", str(papermill.get("start_time") or "~"), mtime)


def render_notebook(notebook: Path) -> Path:
    """Render an executed notebook to HTML beside it, once (again only when it changed).

    The page needs nothing from outside hosts (``dashboard.offline``); a rendering made before
    that template is redone.
    """
    from dashboard.offline import RENDER_MARKER

    target = notebook.with_suffix(".html")
    if target.is_file() and target.stat().st_mtime >= notebook.stat().st_mtime:
        with target.open(encoding="utf-8", errors="replace") as existing:
            if RENDER_MARKER in existing.read(4096):
                return target
    import nbformat

    from dashboard.offline import notebook_exporter
    from mindpulse.io import atomic_write_text

    node = nbformat.read(notebook, as_version=4)
    body, _ = notebook_exporter().from_notebook_node(node)
    atomic_write_text(target, body)
    return target
