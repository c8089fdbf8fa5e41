"""The Models page's "Pending approvals" section (admins only): approve or reject a held challenger."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.model_cards import card_url, cards_base
from dashboard.stores.approvals import PENDING_COLUMNS, ApprovalStore
from dashboard.views.common import code, message_for, run_busy, show_status, status_alert


class PendingApprovalsView(Viewer):
    """Challengers waiting for an admin's decision, and the Approve / Reject buttons with a comment."""

    store = param.ClassSelector(class_=ApprovalStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=PENDING_COLUMNS), show_index=False, disabled=True, sizing_mode="stretch_width",
            max_height=240, layout="fit_data_stretch", formatters={"gate": {"type": "textarea"},
                                                                    "model_card": {"type": "link", "label": "Model card",
                                                                                   "target": "_blank"},
                                                                    "holdout_roc_auc": {"type": "money", "precision": 4, "thousand": ""}},
            widths={"gate": 360}, titles={"gate": "gate verdict", "requested_at": "requested at",
                                          "holdout_roc_auc": "holdout ROC-AUC", "model_card": "model card"})
        self.note = pn.pane.Markdown("", css_classes=["mp-approvals-note"])
        self.version = pn.widgets.Select(label="Version", options=[], width=320)
        self.comment = pn.widgets.TextAreaInput(label="Comment", placeholder="Why (kept with the model and in the audit trail; "
                                                "needed for a rejection)", width=480, height=80)
        self.approve_button = pn.widgets.Button(label="Approve", color="success", width=140, align="end")
        self.reject_button = pn.widgets.Button(label="Reject", color="danger", width=140, align="end")
        self.approve_button.on_click(self._on_approve)
        self.reject_button.on_click(self._on_reject)
        self.status = status_alert()
        self._layout = pn.Column(
            pn.pane.Markdown("### Pending approvals\nWith promotion approval required, a challenger that passes the gate "
                             "waits here (and in Airflow's Required Actions) for an admin. Approve: its run puts it "
                             "through the gate again, against the champion of that moment, and promotes it. Reject: it "
                             "is refused with your comment. Unanswered, it is not approved when the request times out. "
                             "Your account is recorded as the approver."),
            self.note, self.table, pn.Row(self.version, self.comment, self.approve_button, self.reject_button),
            self.status, sizing_mode="stretch_width", css_classes=["mp-approvals"])
        self.refresh()

    def refresh(self) -> None:
        try:
            pending = self.store.table()
        except Exception as error:
            show_status(self.status, message_for(error), "danger")
            return
        pending = pending.assign(model_card=[card_url(version, cards_base()) for version in pending["version"]])
        self.table.value = pending[PENDING_COLUMNS]
        versions = list(pending["version"])
        self.version.options = versions
        if versions and self.version.value not in versions:
            self.version.value = versions[0]
        self.note.object = (f"{len(versions)} version(s) wait for a decision." if versions
                            else "None: no challenger waits for approval.")
        for button in (self.approve_button, self.reject_button):
            button.disabled = not versions

    async def _on_approve(self, event: Any = None) -> None:
        await self.answer(True)

    async def _on_reject(self, event: Any = None) -> None:
        await self.answer(False)

    async def answer(self, approve: bool) -> None:
        """Send the answer for the chosen version to Airflow."""
        version = self.version.value
        if not version:
            show_status(self.status, "No version waits for approval.", "warning")
            return
        try:
            await run_busy([self.approve_button, self.reject_button], self.store.answer, version, approve,
                           self.comment.value)
        except Exception as error:
            show_status(self.status, message_for(error), "danger")
            return
        self.comment.value = ""
        verb = "Approved" if approve else "Rejected"
        show_status(self.status, f"{verb} {code(version)}. The retrain run applies the answer in a moment "
                                 "(refresh to see the champion).", "success")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
