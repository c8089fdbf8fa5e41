"""The Feedback page: true outcomes for logged predictions, one by id or many from a CSV."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from mindpulse import contract as c

from dashboard.stores.feedback import CORRECT_LABEL, CSV_FORMS, FeedbackStore
from dashboard.stores.predict import PredictionStore, field_messages
from dashboard.views.common import (
    code,
    field_error,
    literal,
    message_for,
    on_session_loop,
    run_busy,
    show_error,
    show_status,
    status_alert,
)

OUTCOMES = {"Not depressed (0)": 0, "Depressed (1)": 1}


class FeedbackView(Viewer):
    """Record outcomes and see how many labelled rows wait for the next retrain."""

    store = param.ClassSelector(class_=FeedbackStore)
    predictions = param.ClassSelector(class_=PredictionStore, default=None, allow_None=True,
                                      doc="The session's predictions, to offer the latest id.")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.prediction_id = pn.widgets.IntInput(label="Prediction id", value=None, placeholder="e.g. 17", width=200)
        self.outcome = pn.widgets.RadioButtonGroup(label="True outcome", options=OUTCOMES, value=None,
                                                   color="primary", variant="outline", width=360)
        self.outcome.value = None  # nothing chosen: Panel would pick the first option on construction
        self.correct = pn.widgets.Checkbox(label=CORRECT_LABEL, value=False)
        self.id_error = field_error()
        self.outcome_error = field_error()
        self.save_button = pn.widgets.Button(label="Save outcome", color="primary", width=160)
        self.save_button.on_click(self._on_save)
        self.save_status = status_alert()
        self.latest = pn.pane.Markdown("", sizing_mode="stretch_width")

        self.upload = pn.widgets.FileInput(accept=".csv", multiple=False, width=360)
        self.import_button = pn.widgets.Button(label="Import outcomes", color="primary", width=160)
        self.import_button.on_click(self._on_import)
        self.upload.param.watch(self._on_file, "value")
        self.import_status = status_alert()
        self.rejections = pn.widgets.Tabulator(pd.DataFrame(columns=["row", "field", "value", "expected"]),
                                               show_index=False, disabled=True, visible=False,
                                               sizing_mode="stretch_width", max_height=300, layout="fit_data_stretch")

        self.asked_note = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mp-asked"])
        self.asked = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, visible=False,
                                          sizing_mode="stretch_width", max_height=300, layout="fit_data_stretch",
                                          css_classes=["mp-asked-table"])
        self.pending = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mp-pending"])
        self.pending_bar = pn.pane.HTML("", width=420, height=30, css_classes=["mp-pending-bar"])
        if self.predictions is not None:
            self.predictions.param.watch(on_session_loop(self._on_new_prediction), "last")
        self.store.param.watch(on_session_loop(self.refresh), "changes")
        one = pn.Column(
            pn.pane.Markdown("### One prediction"),
            self.latest,
            self.prediction_id, self.id_error,
            pn.pane.Markdown("True outcome", margin=(0, 10)), self.outcome, self.outcome_error,
            self.correct,
            self.save_button,
            self.save_status,
            width=480,
        )
        many = pn.Column(
            pn.pane.Markdown(
                "### Many outcomes from a CSV\nEither outcomes for logged predictions (columns `prediction_id` "
                "and `Depression`, 0 or 1) or labelled survey rows in the survey's own format (the real CSV "
                "header, `Depression` filled in). Good rows are stored; each bad one is listed by file line.",
                sizing_mode="stretch_width",
            ),
            pn.Row(self.upload, self.import_button),
            self.import_status,
            self.rejections,
            sizing_mode="stretch_width",
        )
        self._layout = pn.Column(
            pn.pane.Markdown("## Outcomes\nWhen the true outcome of a screened student is known (for example "
                             "after a counsellor's assessment), record it here: labelled rows are what the "
                             "next retrain learns from.", sizing_mode="stretch_width"),
            pn.Row(one, many, sizing_mode="stretch_width"),
            pn.pane.Markdown("### Outcomes that would tell us most"),
            self.asked_note,
            self.asked,
            pn.pane.Markdown("### Waiting for the next retrain"),
            self.pending,
            self.pending_bar,
            sizing_mode="stretch_width",
        )
        self._on_new_prediction()
        self.refresh()

    def refresh(self) -> None:
        """Show the labelled rows waiting for the next retrain against the threshold."""
        threshold = self.store.retrain_threshold
        try:
            waiting = self.store.pending_count()
        except Exception as error:
            self.pending.object = f"Could not read the store: {message_for(error)}"
            return
        self.pending.object = (
            f"**{waiting}** labelled row(s) wait for the next retrain; a retrain starts at "
            f"**{threshold}** (`MINDPULSE_RETRAIN_MIN_ROWS`)."
        )
        self.pending_bar.object = pending_bar_html(waiting, threshold)
        self._refresh_asked()

    def _refresh_asked(self) -> None:
        """The predictions a drifted retrain run asked outcomes for, still without one."""
        try:
            asked = self.store.requested_outcomes()
        except Exception as error:
            self.asked_note.object = f"Could not read the outcome requests: {message_for(error)}"
            self.asked.visible = False
            return
        if asked.empty:
            self.asked_note.object = "No outcomes asked for: no retrain run found drift without new outcomes."
            self.asked.visible = False
            return
        self.asked_note.object = (
            f"Drift was found and no new outcomes exist, so retraining would only copy the champion. Recording "
            f"the outcomes of these **{len(asked)}** predictions of the drifted cohort (a stratified sample, asked "
            f"by retrain run `{asked['asked_by'].iloc[0]}`) lets the next retrain learn the change.")
        self.asked.value = asked.drop(columns=["asked_by"])
        self.asked.visible = True

    def _on_new_prediction(self, event: Any = None) -> None:
        last = self.predictions.last if self.predictions is not None else None
        if last is None:
            self.latest.object = "Enter the id shown with a prediction."
            return
        self.prediction_id.value = last.prediction_id
        self.outcome.value = None
        self.latest.object = (f"Your latest prediction: **#{last.prediction_id}** "
                              f"(probability {last.probability:.0%}, model {code(last.model_version)}).")

    async def _on_save(self, event: Any = None) -> None:
        await self.save()

    async def save(self) -> bool:
        """Store the chosen outcome for the prediction id; messages go next to the fields."""
        show_status(self.save_status, None)
        prediction_id, outcome = self.prediction_id.value, self.outcome.value
        try:
            result = await run_busy([self.save_button], self.store.record_outcome, prediction_id, outcome,
                                    correct=bool(self.correct.value))
        except c.ContractError as error:
            messages = field_messages(error)
            show_error(self.id_error, messages.get("prediction_id"))
            show_error(self.outcome_error, messages.get(c.TARGET))
            return False
        except Exception as error:
            show_error(self.id_error, None)
            show_error(self.outcome_error, None)
            show_status(self.save_status, message_for(error), "danger")
            return False
        show_error(self.id_error, None)
        show_error(self.outcome_error, None)
        label = next(k for k, v in OUTCOMES.items() if v == outcome)
        done = {"recorded": "Saved", "unchanged": "Already recorded", "corrected": "Corrected"}.get(result.status, "Saved")
        show_status(self.save_status, f"{done}: prediction #{prediction_id} → {label}.", "success")
        return True

    def _on_file(self, event: Any) -> None:
        self.rejections.visible = False
        if event.new:
            show_status(self.import_status, f"{literal(self.upload.filename)} ({len(event.new):,} bytes) is ready: "
                                            "press **Import outcomes**.", "info")

    async def _on_import(self, event: Any = None) -> None:
        await self.import_file()

    async def import_file(self):
        """Import the chosen CSV and show what was accepted and each rejected cell."""
        show_status(self.import_status, None)
        self.rejections.visible = False
        if not self.upload.value:
            show_status(self.import_status, "Choose a CSV file first.", "warning")
            return None
        try:
            report = await run_busy([self.import_button, self.upload], self.store.import_csv,
                                    self.upload.value, self.upload.filename or "outcomes.csv")
        except Exception as error:
            show_status(self.import_status, message_for(error), "danger")
            return None
        text = f"{literal(report.source)}: **{report.accepted}** of {report.rows_read} {report.kind} accepted"
        if report.unchanged:
            text += f", {report.unchanged} already recorded (unchanged)"
        if report.rejected:
            text += f", **{report.n_rejected}** rejected (each problem below, by file line and field)."
            self.rejections.value = report.problems_frame().astype({"row": str})
            self.rejections.visible = True
        else:
            text += ", none rejected."
        show_status(self.import_status, text, "warning" if report.rejected else "success")
        return report

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def pending_bar_html(waiting: int, threshold: int) -> str:
    """A bar filled in proportion to the labelled rows waiting, with the figures written on it."""
    share = 0.0 if threshold <= 0 else min(1.0, waiting / threshold)
    return (
        f'<div role="progressbar" aria-valuenow="{waiting}" aria-valuemin="0" aria-valuemax="{threshold}" '
        'style="position:relative;width:400px;height:24px;border:1px solid #2b6cb0;border-radius:4px;'
        'background:#ebf4ff;overflow:hidden">'
        f'<div class="mp-pending-fill" style="width:{share:.1%};min-width:{2 if waiting else 0}px;height:100%;'
        'background:#2b6cb0"></div>'
        '<span style="position:absolute;inset:0;text-align:center;line-height:24px;font-size:0.85em;color:#1a365d">'
        f"{waiting:,} of {threshold:,}</span></div>"
    )
