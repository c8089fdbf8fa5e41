"""Predictions of the champion model, with a risk band and the answers that weigh most.

MindPulse is a screening aid, not a diagnosis: a prediction is an estimated probability that a
student with these answers reports depression, to help a counsellor decide whom to talk to.

Risk bands (fixed, independent of the decision threshold):

- **low**: probability below 0.35
- **moderate**: 0.35 up to (not including) 0.65
- **high**: 0.65 or more

The ``label`` (``prediction`` in frames) is 1 when the probability reaches the model's decision
threshold, chosen in training to maximise F1 on out-of-fold probabilities and recorded in the
model's metadata.

Factors: for each of the 13 answers, the change in the model's log-odds between the student's
own answer and typical answers of the training data (the deciles of a number; the categories
weighted by their share), everything else unchanged. The three answers with the largest change
are named in plain words, each marked "raises risk" or "lowers risk". This works for every
candidate model, calibrated or not, and costs one batched prediction of ~135 rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mindpulse import contract as c
from mindpulse.contract import canonical_record
from mindpulse.features import feature_frame

DISCLAIMER = "Screening aid, not a diagnosis"
#: (upper bound, band): a probability below the bound falls in the band.
RISK_BANDS: tuple[tuple[float, str], ...] = ((0.35, "low"), (0.65, "moderate"), (math.inf, "high"))
TOP_FACTORS = 3
#: Changes of log-odds smaller than this (about half a percentage point at p = 0.5) are not named.
MIN_FACTOR_EFFECT = 0.02
LEVEL_WORDS = {0: "No", 1: "Very low", 2: "Low", 3: "Moderate", 4: "High", 5: "Very high"}
SLEEP_WORDS = {"Less than 5 hours": "Sleeps less than 5 hours a night", "5-6 hours": "Sleeps 5-6 hours a night",
               "7-8 hours": "Sleeps 7-8 hours a night", "More than 8 hours": "Sleeps more than 8 hours a night",
               "Others": "Sleep duration given as 'Others'"}
DIET_WORDS = {"Healthy": "Healthy diet", "Moderate": "Moderately healthy diet", "Unhealthy": "Unhealthy diet",
              "Others": "Dietary habits given as 'Others'"}


def risk_band(probability: float) -> str:
    """low (< 0.35), moderate (< 0.65) or high."""
    for upper, band in RISK_BANDS:
        if probability < upper:
            return band
    return RISK_BANDS[-1][1]


def risk_bands(probabilities: np.ndarray) -> np.ndarray:
    p = np.asarray(probabilities, dtype=float)
    return np.select([p < RISK_BANDS[0][0], p < RISK_BANDS[1][0]], [RISK_BANDS[0][1], RISK_BANDS[1][1]],
                     RISK_BANDS[2][1]).astype(object)


@dataclass
class Prediction:
    """One screening result."""

    probability: float
    label: int
    risk_band: str
    factors: list[str]
    model_version: str
    threshold: float
    disclaimer: str = DISCLAIMER
    contributions: list[dict[str, Any]] = field(default_factory=list)  # every feature, largest first
    record: dict[str, Any] = field(default_factory=dict)  # the canonical record that was scored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_answer(name: str, value: Any) -> str:
    """One answer in words a counsellor reads (no scores or codes)."""
    spec = c.FIELD_BY_NAME[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{spec.label.split(' (')[0]}: not given"
    if name in ("academic_pressure", "financial_stress", "study_satisfaction"):
        level = int(round(float(value)))
        what = {"academic_pressure": "academic pressure", "financial_stress": "financial stress",
                "study_satisfaction": "study satisfaction"}[name]
        return f"{LEVEL_WORDS.get(level, str(level))} {what} ({float(value):g} of 5)"
    if name == "work_study_hours":
        hours = float(value)
        return f"{hours:g} hour{'' if hours == 1 else 's'} of work or study a day"
    if name == "age":
        return f"Age {float(value):g}"
    if name == "cgpa":
        return f"CGPA {float(value):g}"
    if name == "suicidal_thoughts":
        return "Has had suicidal thoughts" if value == "Yes" else "Has never had suicidal thoughts"
    if name == "family_history":
        return "Family history of mental illness" if value == "Yes" else "No family history of mental illness"
    if name == "sleep_duration":
        return SLEEP_WORDS.get(str(value), f"Sleep duration: {value}")
    if name == "dietary_habits":
        return DIET_WORDS.get(str(value), f"Dietary habits: {value}")
    return f"{spec.label}: {value}"


def describe_factor(name: str, value: Any, effect: float) -> str:
    direction = "raises risk" if effect > 0 else "lowers risk"
    return f"{describe_answer(name, value)} ({direction})"


class Predictor:
    """Scores records and frames with one registered model (by default the champion)."""

    def __init__(self, model: Any, version: str):
        self.model = model
        self.version = version

    @classmethod
    def load(cls, registry: Any, version: str | None = None) -> "Predictor":
        """The champion (or ``version``) of ``registry``, its file's sha256 checked first."""
        if version is None:
            champion = registry.champion()
            if champion is None:
                from mindpulse.registry import RegistryError

                raise RegistryError(f"{registry.root}: no champion model yet; run 'mindpulse train' first")
            version = champion.version
        return cls(registry.load_model(version), version)

    @property
    def threshold(self) -> float:
        return float(self.model.threshold)

    def predict_record(self, record: Mapping[str, Any]) -> Prediction:
        """Score one record (real-header or canonical keys); raises ``ContractError`` on bad fields."""
        canonical = canonical_record(record)
        columns = {name: np.array([canonical[name]], dtype=object) for name in c.FEATURES}
        probability, contributions = self.model.contributions(self.model.features.transform(columns))
        p = float(probability[0])
        effects = [
            {"feature": name, "label": c.FIELD_BY_NAME[name].label, "value": canonical[name],
             "effect": float(contributions[0, j]), "words": describe_factor(name, canonical[name], contributions[0, j])}
            for j, name in enumerate(c.FEATURES)
        ]
        effects.sort(key=lambda e: abs(e["effect"]), reverse=True)
        factors = [e["words"] for e in effects if abs(e["effect"]) >= MIN_FACTOR_EFFECT][:TOP_FACTORS]
        return Prediction(
            probability=p, label=int(p >= self.threshold), risk_band=risk_band(p), factors=factors,
            model_version=self.version, threshold=self.threshold, contributions=effects, record=canonical,
        )

    def predict_frame(self, frame: pd.DataFrame, *, factors: bool = False) -> pd.DataFrame:
        """A copy of the canonical ``frame`` with probability, prediction, risk_band, model_version
        (and, with ``factors``, the top factors joined by '; ')."""
        features = feature_frame(frame)
        matrix = self.model.features.transform(features)
        if factors:
            probability, contributions = self.model.contributions(matrix)
        else:
            probability = self.model.proba_from_matrix(matrix)
        out = frame.copy()
        out["probability"] = probability
        out["prediction"] = (probability >= self.threshold).astype(int)
        out["risk_band"] = risk_bands(probability)
        out["model_version"] = self.version
        if factors:
            out["factors"] = _factor_texts(features, contributions)
        return out


def _factor_texts(features: pd.DataFrame, contributions: np.ndarray) -> list[str]:
    order = np.argsort(-np.abs(contributions), axis=1)[:, :TOP_FACTORS]
    values = features.to_numpy(dtype=object)
    texts = []
    for i in range(len(features)):
        words = [describe_factor(c.FEATURES[j], values[i, j], contributions[i, j]) for j in order[i]
                 if abs(contributions[i, j]) >= MIN_FACTOR_EFFECT]
        texts.append("; ".join(words))
    return texts
