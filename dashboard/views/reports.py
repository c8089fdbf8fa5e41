"""The Reports page: report runs with their key figures; one opens in iframes served statically."""

from __future__ import annotations

import asyncio
import html
from functools import partial
from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.stores.reports import ReportRun, ReportStore
from dashboard.views.common import literal, message_for, percent, show_status, status_alert

RUN_COLUMNS = ["created_at", "dag_id", "run_id", "outcome", "rows", "models", "features_drifted", "drift_status", "accuracy",
               "roc_auc", "figures_by", "estimated"]
VERSION_FIGURES = ["accuracy", "precision", "recall", "f1", "roc_auc"]


def iframe(url: str, title: str, height: int = 900) -> pn.pane.HTML:
    """An iframe whose ``src`` is a static URL: the report's megabytes never cross the websocket."""
    return pn.pane.HTML(
        f'<iframe src="{html.escape(url, quote=True)}" title="{html.escape(title, quote=True)}" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd;border-radius:4px" loading="lazy"></iframe>',
        sizing_mode="stretch_width", css_classes=["mp-report-frame"],
    )


def default_run(runs: list[ReportRun]) -> str | None:
    """The run to show first: the newest pipeline run with an Evidently report, else the newest (None without runs)."""
    pipeline_runs = [run for run in runs if not run.hand_run] or runs
    with_report = [run for run in pipeline_runs if run.reports]
    chosen = (with_report or pipeline_runs or [None])[0]
    return None if chosen is None else str(chosen.folder)


def _run_table(runs: list[ReportRun]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"created_at": r.created_at, "dag_id": r.dag_id, "run_id": r.run_id, "outcome": r.outcome or "",
          "rows": r.rows, "models": r.models, "features_drifted": percent(r.columns_drift_share),
          "drift_status": r.drift_status or "", "accuracy": None if r.accuracy is None else round(r.accuracy, 3),
          "roc_auc": None if r.roc_auc is None else round(r.roc_auc, 3), "figures_by": r.figures_by or "",
          "estimated": r.estimate} for r in runs],
        columns=RUN_COLUMNS,
    ).astype({"rows": "Int64"})  # whole numbers, not 1200.0 beside a run without a count


class ReportsView(Viewer):
    """Lists report runs, newest first; opening one shows its reports and notebooks."""

    store = param.ClassSelector(class_=ReportStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._runs: dict[str, ReportRun] = {}
        self._shown: str | None = None  # the folder of the run on display
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=RUN_COLUMNS), show_index=False, disabled=True,
                                          selectable=1, sizing_mode="stretch_width", max_height=320,
                                          layout="fit_data_stretch")
        self.table.param.watch(partial(self._on_table_selection, hand=False), "selection")
        # Notebooks run by hand in JupyterLab (interactive__<stamp>) are listed apart from pipeline runs.
        self.hand_table = pn.widgets.Tabulator(pd.DataFrame(columns=RUN_COLUMNS), show_index=False, disabled=True,
                                               selectable=1, sizing_mode="stretch_width", max_height=200,
                                               layout="fit_data_stretch")
        self.hand_table.param.watch(partial(self._on_table_selection, hand=True), "selection")
        self.hand_title = pn.pane.Markdown("#### Hand runs\nNotebooks run by hand (JupyterLab), not by the pipeline.")
        self.picker = pn.widgets.Select(label="Report run", options={}, width=520)
        self.open_button = pn.widgets.Button(label="Open", color="primary", width=120, align="end")
        self.open_button.on_click(self._on_open)
        self.picker.param.watch(self._on_pick, "value")
        self._refreshing = False
        self.refresh_button = pn.widgets.Button(label="Refresh", color="light", width=120)
        self.refresh_button.on_click(lambda event: self.refresh())
        self.status = status_alert()
        self.detail = pn.Column(sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.Markdown("## Reports\nEach run of the reporting or retrain pipeline leaves Evidently reports "
                             "(data quality, drift, model performance) and the executed notebooks that made them."),
            pn.Row(self.refresh_button),
            self.table,
            self.hand_title,
            self.hand_table,
            pn.Row(self.picker, self.open_button),
            self.status,
            self.detail,
            sizing_mode="stretch_width",
        )
        self.refresh()

    def refresh(self) -> None:
        """Read the report runs again."""
        try:
            runs = self.store.runs()
        except Exception as error:
            show_status(self.status, message_for(error), "danger")
            return
        runs = [run for run in runs if not run.hand_run] + [run for run in runs if run.hand_run]
        self._runs = {str(run.folder): run for run in runs}
        self.table.value = _run_table([r for r in runs if not r.hand_run])
        self.hand_table.value = _run_table([r for r in runs if r.hand_run])
        self.hand_title.visible = self.hand_table.visible = any(r.hand_run for r in runs)
        self._refreshing = True  # new options change the value; that is not the user's choice
        try:
            self.picker.options = {run.label: str(run.folder) for run in runs}
            shown = self._shown if self._shown in self._runs else default_run(runs)
            self.picker.value = shown
        finally:
            self._refreshing = False
        if not runs:
            self._shown = None
            self.detail.objects = []
            show_status(self.status, "No report runs yet: they appear after the reporting pipeline has run "
                                     "(Pipelines page).", "info")
            return
        newest = runs[0]
        if self._shown is None and shown != str(newest.folder):
            show_status(self.status, f"Showing the newest run with an Evidently report. Newer runs (the newest is "
                                     f"{literal(newest.dag_id)} / {literal(newest.run_id)}) have no report, only "
                                     "their notebooks: "
                                     "pick one above to see them.", "info")
        else:
            show_status(self.status, None)
        if shown != self._shown:
            pn.state.execute(partial(self.open, shown))

    def _on_table_selection(self, event: Any, *, hand: bool) -> None:
        if event.new:
            listed = [folder for folder, run in self._runs.items() if run.hand_run == hand]
            self.picker.value = listed[event.new[0]]

    def _on_pick(self, event: Any) -> None:
        # Decided now, while ``_refreshing`` tells a refresh from a choice; the opening runs later.
        if not self._refreshing and event.new:
            show_status(self.status, None)
            pn.state.execute(partial(self.open, event.new))

    async def _on_open(self, event: Any = None) -> None:
        await self.open(self.picker.value)

    async def open(self, folder: str | None) -> None:
        """Show the run's Evidently reports at once, then its notebooks (rendered to HTML once, then served)."""
        run = self._runs.get(folder or "")
        if run is None:
            show_status(self.status, "Choose a report run first.", "warning")
            return
        if folder == self._shown:  # already on display (Open pressed after picking it)
            return
        self._shown = folder
        self._refreshing = True
        try:
            self.picker.value = folder  # the picker always names the run on display
        finally:
            self._refreshing = False
        figures = (f"**{literal(run.dag_id)} / {literal(run.run_id)}** ({literal(run.created_at)}, "
                   f"{literal(run.outcome or 'no outcome')}) · "
                   f"rows {f'{run.rows:,}' if run.rows is not None else '–'}"
                   f" · features drifted {percent(run.columns_drift_share)} ({literal(run.drift_status or '–')})"
                   f" · accuracy {'–' if run.accuracy is None else f'{run.accuracy:.3f}'}"
                   + (f" ({literal(run.figures_by)})" if run.figures_by and run.accuracy is not None else ""))
        if run.estimate:
            figures += f"\n\nEstimated: {literal(run.estimate)}"
        if run.models:
            figures += f"\n\n{'Predictions by ' if run.model_versions else ''}{literal(run.models)}"
            if run.reference_model:
                figures += f"; reference scored by {literal(run.reference_model)} (drift compares that model's outputs)"
        tabs = pn.Tabs(*[(title, iframe(url, title)) for title, url in run.reports.items()],
                       dynamic=True, sizing_mode="stretch_width")
        spinner = pn.indicators.LoadingSpinner(value=True, size=20, color="primary", align="center")
        pending = pn.Row(spinner, pn.pane.Markdown("Rendering the run's notebooks…", align="center"),
                         visible=bool(run.notebooks))
        self.detail.objects = [pn.pane.Markdown(figures), *self._by_version(run), pending, tabs]
        if not run.reports and not run.notebooks:
            self.detail.append(pn.pane.Markdown("This run has no HTML report and no notebook."))
        if not run.notebooks:
            return
        try:
            # The first rendering loads nbconvert (seconds); later ones are cached beside the notebook.
            notebooks = await asyncio.to_thread(self.store.notebook_pages, run)
        except Exception as error:
            pending.objects = [pn.pane.Markdown(f"The notebooks could not be rendered: {message_for(error)}")]
            return
        for title, url in notebooks.items():
            tabs.append((f"Notebook: {title}", iframe(url, title)))
        pending.visible = False

    @staticmethod
    def _by_version(run: ReportRun) -> list[pn.viewable.Viewable]:
        """Performance per model version, when the run's rows mix versions."""
        if not run.performance_by_version:
            return []
        table = pd.DataFrame([{"model_version": version, "labelled_rows": figures.get("rows"),
                               **{k: None if figures.get(k) is None else round(figures[k], 3) for k in VERSION_FIGURES}}
                              for version, figures in run.performance_by_version.items()])
        return [pn.pane.Markdown("**Performance per model version** (the rows mix versions)"),
                pn.widgets.Tabulator(table, show_index=False, disabled=True, sizing_mode="stretch_width",
                                     layout="fit_data_stretch")]

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
