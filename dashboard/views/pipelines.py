"""The Pipelines page: recent runs of both DAGs from Airflow, and buttons to start them."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from mindpulse import gate

from dashboard.stores.pipelines import REPORTING_DAG_ID, RETRAIN_DAG_ID, RUN_COLUMNS, PipelineStore
from dashboard.views.common import code, literal, message_for, run_busy, show_status, status_alert, without


#: The gate's rule in the page's words (from :data:`mindpulse.gate.RULE`, so the two cannot differ).
RETRAIN_GATE = gate.RULE


def runs_table() -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(pd.DataFrame(columns=RUN_COLUMNS), show_index=False, disabled=True,
                                sizing_mode="stretch_width", max_height=300, layout="fit_data_stretch")


class PipelinesView(Viewer):
    """Airflow's view of the retrain and reporting pipelines, with triggers."""

    store = param.ClassSelector(class_=PipelineStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.tables = {RETRAIN_DAG_ID: runs_table(), REPORTING_DAG_ID: runs_table()}
        self.force = pn.widgets.Checkbox(label="Force: retrain even without enough new labels or drift", value=False,
                                         align="center")
        self.retrain_button = pn.widgets.Button(label="Start retrain", color="primary", width=160)
        self.reporting_button = pn.widgets.Button(label="Start reporting run", color="primary", width=200)
        self.refresh_button = pn.widgets.Button(label="Refresh", color="light", width=120)
        self.retrain_button.on_click(self._on_retrain)
        self.reporting_button.on_click(self._on_reporting)
        self.refresh_button.on_click(self._on_refresh)
        self.status = status_alert()
        self.connection = status_alert()
        self.paused = status_alert()
        self._layout = pn.Column(
            pn.pane.Markdown(f"## Pipelines\nRuns of `{RETRAIN_DAG_ID}` (checks new labels and drift, retrains, "
                             f"and puts the challenger through the promotion gate: {RETRAIN_GATE}) and "
                             f"`{REPORTING_DAG_ID}` (Evidently reports), as Airflow at "
                             f"{code(self.store.settings.airflow_api_url)} reports them."),
            self.connection,
            self.paused,
            pn.Row(self.retrain_button, self.force),
            pn.Row(self.reporting_button, self.refresh_button),
            self.status,
            pn.pane.Markdown(f"### {RETRAIN_DAG_ID}"),
            self.tables[RETRAIN_DAG_ID],
            pn.pane.Markdown(f"### {REPORTING_DAG_ID}"),
            self.tables[REPORTING_DAG_ID],
            sizing_mode="stretch_width",
        )
        if not self.store.may("admin"):
            without(self._layout, self.retrain_button, self.reporting_button, self.force)

    async def _on_refresh(self, event: Any = None) -> None:
        await self.refresh()

    async def refresh(self) -> bool:
        """Ask Airflow for the latest runs; say so plainly when it cannot be reached."""
        try:
            state = await run_busy([self.refresh_button], self.store.recent_runs)
        except Exception as error:
            show_status(self.connection, message_for(error), "danger")
            show_status(self.paused, None)
            return False
        for dag_id, table in self.tables.items():
            table.value = state.runs.get(dag_id, pd.DataFrame(columns=RUN_COLUMNS))
        if state.paused:
            paused = literal(", ".join(state.paused))
            show_status(self.paused, f"Paused in Airflow: {paused}. Their runs stay queued until "
                                     "the DAG is unpaused (Airflow's UI, or `airflow dags unpause DAG_ID`).", "warning")
        else:
            show_status(self.paused, None)
        show_status(self.connection, f"Connected to Airflow at {literal(self.store.settings.airflow_api_url)}.",
                    "success")
        return True

    async def _on_retrain(self, event: Any = None) -> None:
        await self._trigger(self.retrain_button, self.store.trigger_retrain, bool(self.force.value))

    async def _on_reporting(self, event: Any = None) -> None:
        await self._trigger(self.reporting_button, self.store.trigger_reporting)

    async def _trigger(self, button: pn.widgets.Button, action: Any, *args: Any) -> str | None:
        show_status(self.status, None)
        try:
            run_id = await run_busy([button], action, *args)
        except Exception as error:
            show_status(self.status, message_for(error), "danger")
            return None
        show_status(self.status, f"Started run {code(run_id)}.", "success")
        await self.refresh()
        return run_id

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
