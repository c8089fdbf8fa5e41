"""The Audit page (admins): who did what, when, from where, and whether it was allowed."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.stores.audit import AUDIT_COLUMNS, AuditStore
from dashboard.views.common import message_for, show_status, status_alert


class AuditView(Viewer):
    """The audit trail, newest first, with filters by account, action and refusals."""

    store = param.ClassSelector(class_=AuditStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.actor = pn.widgets.TextInput(name="Account", placeholder="any (or os:USER, airflow:DAG)", width=220)
        self.action = pn.widgets.TextInput(name="Action", placeholder="any, e.g. sign_in, rollback", width=220)
        self.refused = pn.widgets.Checkbox(name="Refused attempts only", value=False, align="end")
        self.refresh_button = pn.widgets.Button(label="Show", color="primary", width=120, align="end")
        self.refresh_button.on_click(lambda event: self.refresh())
        # Plain-text cells: whatever an account name or a target holds is shown as typed, never as markup.
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=AUDIT_COLUMNS), show_index=False, disabled=True,
                                          sizing_mode="stretch_width", max_height=520, layout="fit_data_stretch",
                                          formatters={column: {"type": "plaintext"} for column in AUDIT_COLUMNS})
        self.status = status_alert()
        self._layout = pn.Column(
            pn.pane.Markdown("## Audit trail\nEvery change made through the HTTP API, this dashboard, the CLI and "
                             "the pipeline, and every refused attempt: who, when, from where, what. Append-only: "
                             "nothing here can be edited or deleted."),
            pn.Row(self.actor, self.action, self.refused, self.refresh_button),
            self.status,
            self.table,
            sizing_mode="stretch_width",
        )
        self.refresh()

    def refresh(self) -> None:
        try:
            self.table.value = self.store.events(actor=self.actor.value, action=self.action.value,
                                                 refused=self.refused.value)
            self.status.visible = False
        except Exception as error:
            show_status(self.status, message_for(error), "danger")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
