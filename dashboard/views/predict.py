"""The Predict page: the survey form built from the data contract, and the risk it gives."""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from mindpulse import contract as c

from dashboard.offline import ICONS
from dashboard.stores.predict import PredictionOutcome, PredictionStore, field_messages, form_fields
from dashboard.views.common import (
    code,
    disclaimer,
    field_error,
    literal,
    message_for,
    show_error,
    show_status,
    status_alert,
)

#: A field whose value the contract refused: red border and a pale red background.
INVALID_FIELD = ":host .bk-input { border: 2px solid #b00020; background-color: #fff5f5; }"
BAND_COLOURS = {"low": "#2f855a", "medium": "#b7791f", "moderate": "#b7791f", "high": "#c53030"}


def field_widget(spec: c.FieldSpec, value: Any) -> pn.widgets.Widget:
    """The input for one contract field; numbers are typed (the contract checks their range)."""
    description = spec.help or None
    if spec.kind == "category":
        return pn.widgets.Select(label=spec.label, options=list(spec.choices), value=value,
                                 description=description, sizing_mode="stretch_width")
    placeholder = f"{spec.minimum:g} to {spec.maximum:g}" + (" (empty if unknown)" if spec.nullable else "")
    if spec.integer:
        return pn.widgets.IntInput(label=spec.label, value=None if value is None else int(value),
                                   placeholder=placeholder, description=description, sizing_mode="stretch_width")
    step = 0.1 if (spec.maximum or 0) <= 10 else 1.0
    return pn.widgets.FloatInput(label=spec.label, value=None if value is None else float(value), step=step,
                                 placeholder=placeholder, description=description, sizing_mode="stretch_width")


class PredictView(Viewer):
    """A form with every survey field, a Predict button and the result with its caveats."""

    store = param.ClassSelector(class_=PredictionStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        defaults = self.store.defaults()
        self.specs = {spec.name: spec for spec in form_fields()}
        self.inputs = {name: field_widget(spec, defaults.get(name)) for name, spec in self.specs.items()}
        self.errors = {name: field_error() for name in self.specs}
        self.predict_button = pn.widgets.Button(label="Predict", color="primary", icon=ICONS["activity"], width=160)
        self.reset_button = pn.widgets.Button(label="Reset to typical values", color="light", width=200)
        self.predict_button.on_click(self._on_predict)
        self.reset_button.on_click(self._on_reset)
        self.status = status_alert()
        self.result = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mp-result"])
        self.result_card = pn.Column(
            pn.pane.Markdown("### Result"), self.result, disclaimer(), visible=False, sizing_mode="stretch_width",
            styles={"border": "1px solid #ddd", "border-radius": "6px", "padding": "4px 12px"},
        )
        self.placeholder = pn.pane.Markdown("The estimate appears here after **Predict**.",
                                            styles={"color": "#666"}, sizing_mode="stretch_width")
        cells = [pn.Column(self.inputs[name], self.errors[name], sizing_mode="stretch_width", margin=0)
                 for name in self.specs]
        self.form = pn.GridBox(*cells, ncols=2, sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.Markdown(
                "## Screening\nAnswer the survey questions for one student and press **Predict**. "
                "Values start at the most typical answers of the reference students not labelled depressed.",
                sizing_mode="stretch_width",
            ),
            disclaimer(),
            pn.Row(
                pn.Column(self.form, pn.Row(self.predict_button, self.reset_button), self.status,
                          sizing_mode="stretch_width"),
                pn.Column(self.placeholder, self.result_card, width=460),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )

    def values(self) -> dict[str, Any]:
        """The form's current values, keyed by canonical field name."""
        return {name: widget.value for name, widget in self.inputs.items()}

    def _show_field_errors(self, messages: dict[str, str]) -> None:
        """Each refused field gets its message underneath and a red frame; the others are cleared."""
        for name, pane in self.errors.items():
            show_error(pane, messages.get(name))
            widget = self.inputs[name]
            marked = [INVALID_FIELD] if name in messages else []
            if list(widget.stylesheets) != marked:
                widget.stylesheets = marked

    def _on_predict(self, event: Any = None) -> None:
        self.predict()

    def predict(self) -> PredictionOutcome | None:
        """Validate the form, predict and show the result (or each field's problem).

        In the click itself, not in a worker thread: a prediction takes ~10 ms on the server (the
        champion is loaded at start-up), and every update then reaches the page as the click's
        own. Run as an async handler around a worker thread, the updates made after the ``await``
        sometimes never reached the browser: Predict left disabled, no result, the prediction
        logged and the server idle (browser tests, about one full suite run in three). Clicks are
        handled one after the other, so a second press on unchanged answers gets the same,
        already logged prediction back.
        """
        show_status(self.status, None)
        try:
            outcome = self.store.predict(self.values())
        except c.ContractError as error:
            messages = field_messages(error)
            self._show_field_errors(messages)
            unknown = [m for name, m in messages.items() if name not in self.errors]
            named = ", ".join(self.specs[name].label for name in messages if name in self.specs)
            text = f"Please correct the highlighted field(s): {named}." if named else "Please correct the answers."
            show_status(self.status, text + (" " + literal(" ".join(unknown)) if unknown else ""), "danger")
            self.result_card.visible = False
            return None
        except Exception as error:  # shown as words, never a traceback
            self._show_field_errors({})
            show_status(self.status, message_for(error), "danger")
            self.result_card.visible = False
            return None
        self._show_field_errors({})
        self.result.object = result_markdown(outcome)
        self.result_card.visible = True
        self.placeholder.visible = False
        return outcome

    def _on_reset(self, event: Any = None) -> None:
        defaults = self.store.defaults()
        for name, widget in self.inputs.items():
            widget.value = defaults.get(name)
        self._show_field_errors({})
        show_status(self.status, None)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def result_markdown(outcome: PredictionOutcome) -> str:
    """The result in words: probability, risk band, the main factors and the model used."""
    logged = (f"already logged as prediction **#{outcome.prediction_id}** (same answers, nothing logged again)"
              if outcome.repeated else f"logged as prediction **#{outcome.prediction_id}**")
    colour = BAND_COLOURS.get(outcome.risk_band.lower(), "#333")
    factors = "\n".join(f"- {literal(factor)}" for factor in outcome.factors) or "- (no single factor stands out)"
    return (
        f"**Estimated probability of depression: {outcome.probability:.0%}** ({outcome.probability:.3f})\n\n"
        f"Risk band: <span style='color:{colour};font-weight:bold'>{literal(outcome.risk_band)}</span>\n\n"
        f"What raised or lowered the estimate most:\n\n{factors}\n\n"
        f"Model version {code(outcome.model_version)} · {logged} "
        f"(record the true outcome later on the Feedback page)."
    )
