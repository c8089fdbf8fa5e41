"""The Predict page's store: the form's fields and defaults, and validated, logged predictions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import param

from mindpulse import contract as c
from mindpulse.settings import Settings

from dashboard.stores.common import Acting, DashboardError, cache_lock, model_registry, production_store

_predictors: dict[tuple[str, str], Any] = {}
_defaults: dict[tuple[str, float], dict[str, Any]] = {}


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
    repeated: bool = False  # the same answers as the session's previous prediction: not logged again


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


def typical_rows(reference: pd.DataFrame) -> pd.DataFrame:
    """The reference rows the form's starting answers describe: the students not labelled depressed.

    Most respondents of the survey are labelled depressed, and the most frequent answers of all of
    them ("suicidal thoughts: Yes") made a starting student the model scored as high risk. The
    typical answers of the students without depression describe a plausible, unremarkable student.
    Without labels (or without such rows) every row counts.
    """
    if c.TARGET in reference:
        labels = pd.to_numeric(reference[c.TARGET], errors="coerce")
        if (labels == 0).any():
            return reference[labels == 0]
    return reference


def form_defaults(settings: Settings) -> dict[str, Any]:
    """Starting values for the form: per field, the median or most frequent answer of :func:`typical_rows`."""
    path = settings.reference_path
    mtime = path.stat().st_mtime if path.is_file() else -1.0
    key = (str(path), mtime)
    with cache_lock:
        if key in _defaults:
            return dict(_defaults[key])
    if mtime >= 0:
        from mindpulse.data import read_canonical

        reference = read_canonical(path)
    else:  # no reference yet: the generator reproduces the survey's marginals
        from mindpulse.synthetic import generate

        reference = generate(2_000, seed=settings.seed).canonical()
    typical = typical_rows(reference)
    values = {spec.name: _typical_value(spec, typical.get(spec.name)) for spec in form_fields()}
    with cache_lock:
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


class PredictionStore(Acting):
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
            with cache_lock:
                predictor = _predictors.get(key)
            if predictor is None:
                predictor = Predictor.load(registry, champion.version)  # checks the file's sha256
                with cache_lock:
                    _predictors[key] = predictor
        except RegistryError as exc:
            raise DashboardError(str(exc)) from exc
        return predictor

    def warm_up(self) -> str | None:
        """Load what the first prediction needs (the champion, the store, the form's defaults) and
        score the defaults once without logging, so the first press is as fast as the later ones.

        Returns the champion's version, or None when there is nothing to load yet.
        """
        from mindpulse.contract import canonical_record

        production_store(self.settings).pending_count()  # opens the database connection the log will use
        defaults = self.defaults()
        try:
            predictor = self._predictor()
        except DashboardError:  # no model yet: the page says so when Predict is pressed
            return None
        predictor.predict_record(canonical_record(defaults))
        return predictor.version

    def predict(self, values: Mapping[str, Any]) -> PredictionOutcome:
        """Validate ``values`` (canonical names), predict with the champion and log the prediction.

        The same answers as this session's previous prediction, with the same champion, give that
        prediction back (``repeated=True``) and log nothing.

        Raises ``contract.ContractError`` naming each bad field, or ``DashboardError``.
        """
        from mindpulse.contract import canonical_record

        self.require("predict", "screen students")
        record = canonical_record(values)  # the contract's rules; bad fields raise first
        predictor = self._predictor()
        last = self.last
        if last is not None and last.record == record and last.model_version == predictor.version:
            # Pressing again on unchanged answers: the same prediction, already logged once.
            return dataclasses.replace(last, repeated=True)
        prediction = predictor.predict_record(record)
        prediction_id = production_store(self.settings).log_prediction(
            prediction.record,
            probability=prediction.probability,
            label=prediction.label,
            model_version=prediction.model_version,
            actor=self.actor,
        )
        self.audit("predictions_logged", target=f"prediction {prediction_id}",
                   details={"count": 1, "model_version": prediction.model_version})
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
