"""The schema of a model card (:mod:`mindpulse.model_card`): its parts, as pydantic models, and
the words every card carries (intended use, where to find help, known limits).

``model_card.json`` is checked against :class:`ModelCard`; ``schema_version`` says which shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mindpulse.groups import CONFIDENCE

SCHEMA_VERSION = 1
CARD_JSON = "model_card.json"
CARD_HTML = "model_card.html"
CALIBRATION_BINS = 10
#: "95 %", as the gate and the pages write it.
LEVEL = f"{CONFIDENCE * 100:g} %"

INTENDED_USE = ("MindPulse estimates the probability that a student with these survey answers reports "
                "depression, to help a counsellor or a student support service decide whom to talk to first. "
                "It is a screening aid, never a diagnosis.")
NOT_FOR = [
    "diagnosing depression or any other condition: only a qualified professional can",
    "decisions about a student's admission, grades, discipline or finances",
    "judging anyone who did not answer the survey themselves, or populations unlike the training data "
    "(it was built for university students answering a self-reported survey)",
    "ruling anyone out: a low estimate does not mean a student is well",
]
#: The dashboard's words (dashboard/views/common.py DISCLAIMER), without its Markdown.
HELP = ("MindPulse is a screening aid, not a diagnosis. A risk estimate from a short survey cannot tell whether "
        "someone is depressed; only a qualified professional can. If you or a student is in immediate danger, "
        "contact local emergency services or a crisis line now. Otherwise, talk to a qualified counsellor, the "
        "student support service or a doctor.")
KNOWN_LIMITS = [
    "Label shift defeats the estimate made without labels: when more students are depressed for the same answers "
    "(or the share of depression changes), the model's probabilities are wrong and the no-label estimate "
    "(CBPE) misses it without any sign; only outcomes coming back reveal it.",
    "The label is self-reported depression in a survey, not a clinical diagnosis.",
    "The data describe students in India (the public Student Depression Dataset, or a generator reproducing "
    "its figures): most are 18 to 34 years old, and few are older.",
    "The depression rate falls with age (0.72 at 18-20, 0.28 at 36+), so the age bands differ in prevalence "
    "and their figures are not directly comparable.",
    "Work Pressure and Job Satisfaction are nearly constant (0 in almost every row): the model learns "
    "nothing from them.",
    "City holds about twenty junk values and Profession is 'Student' in almost every row; rare values are "
    "grouped as infrequent.",
    "Financial Stress is missing in a few rows; a missing value is imputed.",
    "A group with fewer holdout rows than the settings' minimum, or without both outcomes, is shown but not "
    "judged: its figures would be noise.",
]


class Part(BaseModel):
    """A part of the card: nothing beyond its fields."""

    model_config = ConfigDict(extra="forbid")


class Estimate(Part):
    """One ROC-AUC with its 95 % interval, the rows it rests on and how the interval was made."""

    roc_auc: float | None
    interval: list[float] | None
    rows: int | None
    positives: int | None = None
    how: str


class CalibrationBin(Part):
    mean_probability: float
    observed_rate: float
    rows: int


class Calibration(Part):
    method: str | None
    brier: float | None
    mean_gap: float | None
    bins: list[CalibrationBin]


class Threshold(Part):
    value: float
    method: str | None
    sensitivity: float | None
    specificity: float | None
    true_positives: int
    false_negatives: int
    true_negatives: int
    false_positives: int


class Quality(Part):
    cv: Estimate
    fixed_holdout: Estimate
    recent: Estimate | None
    calibration: Calibration
    threshold: Threshold


class PopulationGroup(Part):
    attribute: str
    group: str
    rows: int
    share: float
    depression_rate: float | None


class Population(Part):
    rows: int
    groups: list[PopulationGroup]


class TrainingData(Part):
    source: str | None
    rows: int | None
    rows_offered: int | None
    holdout_rows_excluded: int | None
    positives: int | None
    negatives: int | None
    positive_rate: float | None
    sha256: str | None
    reference: dict[str, Any] | None
    snapshots: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    window_days: int | None
    recent_rows: int | None
    trained_at: str
    lineage: str
    population: Population | None
    population_note: str


class Holdout(Part):
    rows: int
    positives: int
    sha256: str | None
    drawn_at: str | None
    population: Population


class GroupRow(Part):
    attribute: str
    group: str
    n: int
    positives: int
    judged: bool
    roc_auc: float | None
    interval: list[float] | None
    sensitivity: float | None
    specificity: float | None
    note: str


class Groups(Part):
    attributes: list[str]
    min_size: int
    groups: list[GroupRow]
    largest_gap: dict[str, Any] | None


class Comparison(Part):
    """The gate's verdict on this version against the champion it challenged."""

    gated: bool
    promoted: bool | None
    forced: bool
    verdict: str
    champion_before: str | None
    decided_at: str | None
    margin: float | None
    rule: str | None
    best_promoted_auc: float | None
    floor: float | None
    slices: list[dict[str, Any]]
    groups: list[dict[str, Any]] | None
    largest_gap: dict[str, Any] | None
    groups_note: str


class Approval(Part):
    status: str | None
    by: str | None
    comment: str | None
    at: str | None


class Provenance(Part):
    seed: int | None
    model: str | None
    calibration: str | None
    parameters: dict[str, Any]
    model_sha256: str | None
    code: dict[str, Any]


class Basis(Part):
    """What the figures computed from the model depend on: the same basis, the same figures."""

    model_sha256: str | None
    holdout_sha256: str | None
    recent_sha256: str | None
    group_columns: list[str]
    group_min_size: int
    resamples: int
    seed: int


class ModelCard(Part):
    """The model card of one registered version (the record kept as ``model_card.json``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    version: str
    status: str
    created_at: str
    intended_use: str
    not_for: list[str]
    help: str
    training_data: TrainingData
    holdout: Holdout
    quality: Quality
    groups: Groups
    comparison: Comparison
    approval: Approval | None
    known_limits: list[str]
    provenance: Provenance
    basis: Basis = Field(description="what the model-derived figures were computed from")
