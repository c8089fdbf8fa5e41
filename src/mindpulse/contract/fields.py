"""The fields of the contract: the real CSV's 18 columns, their canonical names and their rules.

Rules are declared once in ``FIELDS``; the pandera schema, the cell parsers, the dashboard's
form and the documentation are built from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

TARGET = "depression"

GENDERS = ("Male", "Female")
YES_NO = ("Yes", "No")
SLEEP_DURATIONS = ("Less than 5 hours", "5-6 hours", "7-8 hours", "More than 8 hours", "Others")
DIETARY_HABITS = ("Healthy", "Moderate", "Unhealthy", "Others")
DEGREES = (
    "Class 12", "B.Ed", "B.Com", "B.Arch", "BCA", "MSc", "B.Tech", "MCA", "M.Tech", "BHM", "BSc",
    "M.Ed", "B.Pharm", "M.Com", "MBBS", "BBA", "LLB", "BE", "BA", "M.Pharm", "MD", "MBA", "MA",
    "PhD", "LLM", "MHM", "ME", "Others",
)
#: The real cities of the dataset; any other value (the file has junk such as ``3.0`` or
#: ``Gaurav``) becomes ``OTHER_CITY``.
CITIES = (
    "Kalyan", "Srinagar", "Hyderabad", "Vasai-Virar", "Lucknow", "Thane", "Ludhiana", "Agra",
    "Surat", "Kolkata", "Jaipur", "Patna", "Visakhapatnam", "Pune", "Ahmedabad", "Bhopal",
    "Chennai", "Meerut", "Rajkot", "Delhi", "Bangalore", "Ghaziabad", "Mumbai", "Vadodara",
    "Varanasi", "Nagpur", "Indore", "Kanpur", "Nashik", "Faridabad",
)
OTHER_CITY = "Other"
DEFAULT_PROFESSION = "Student"
#: The store's text columns hold this many characters (VARCHAR(64) on PostgreSQL).
TEXT_MAX_LENGTH = 64
#: Record ids are stored as BIGINT: 0 up to 2**63 - 1.
ID_MAX = 2**63 - 1
#: Values echoed in error messages are cut to this many characters (their length is added).
ECHO_LIMIT = 80

Kind = Literal["id", "number", "category", "text", "target"]


@dataclass(frozen=True)
class FieldSpec:
    """One column of the contract."""

    name: str  # canonical name
    raw: str  # exactly as in the real CSV header
    kind: Kind
    label: str  # words a person reads in a form
    feature: bool = True
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    required: bool = True  # must the column be present in an input?
    default: Any = None  # value used when an optional column is absent
    help: str = ""
    max_length: int | None = None  # text and category: the longest value the store holds

    @property
    def accepted(self) -> str:
        """What this field accepts, in words for an error message."""
        if self.name == "city":  # any name is accepted; those outside the survey's list become 'Other'
            return f"a city name without control characters (one outside the survey's list is grouped as {OTHER_CITY!r})"
        if self.kind == "category":
            return "one of " + ", ".join(self.choices)
        if self.kind == "text":
            return f"text of at most {self.max_length} characters, without control characters"
        if self.kind == "id":
            return f"a whole number from 0 to {ID_MAX}, unique in the input"
        if self.kind == "target":
            return "0 or 1"
        what = "a whole number" if self.integer else "a number"
        text = f"{what} from {self.minimum:g} to {self.maximum:g}"
        if self.nullable:
            text += " (or empty / '?' when unknown)"
        return text


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "id", "id", "Record id", feature=False, required=False, nullable=True),
    FieldSpec("gender", "Gender", "category", "Gender", choices=GENDERS),
    FieldSpec("age", "Age", "number", "Age (years)", minimum=15, maximum=100, integer=True,
              help="Whole years (20 or 20.0; not 20.5). The survey had ages 18 to 59."),
    FieldSpec("city", "City", "category", "City", choices=(*CITIES, OTHER_CITY),
              help="Cities outside the survey's list are grouped as 'Other'; an empty City is refused."),
    FieldSpec("profession", "Profession", "text", "Profession", feature=False, required=False,
              default=DEFAULT_PROFESSION, max_length=TEXT_MAX_LENGTH,
              help="Almost always 'Student'; not used by the model."),
    FieldSpec("academic_pressure", "Academic Pressure", "number", "Academic pressure (0-5)",
              minimum=0, maximum=5, integer=True),
    FieldSpec("work_pressure", "Work Pressure", "number", "Work pressure (0-5)", feature=False,
              minimum=0, maximum=5, integer=True, required=False, default=0.0,
              help="Near-constant (0) in the survey; not used by the model."),
    FieldSpec("cgpa", "CGPA", "number", "CGPA (0-10)", minimum=0, maximum=10),
    FieldSpec("study_satisfaction", "Study Satisfaction", "number", "Study satisfaction (0-5)",
              minimum=0, maximum=5, integer=True),
    FieldSpec("job_satisfaction", "Job Satisfaction", "number", "Job satisfaction (0-5)", feature=False,
              minimum=0, maximum=5, integer=True, required=False, default=0.0,
              help="Near-constant (0) in the survey; not used by the model."),
    FieldSpec("sleep_duration", "Sleep Duration", "category", "Sleep duration", choices=SLEEP_DURATIONS),
    FieldSpec("dietary_habits", "Dietary Habits", "category", "Dietary habits", choices=DIETARY_HABITS),
    FieldSpec("degree", "Degree", "category", "Degree", choices=DEGREES),
    FieldSpec("suicidal_thoughts", "Have you ever had suicidal thoughts ?", "category",
              "Ever had suicidal thoughts?", choices=YES_NO),
    FieldSpec("work_study_hours", "Work/Study Hours", "number", "Work/study hours per day (0-24)",
              minimum=0, maximum=24, help="The survey had 0 to 12."),
    FieldSpec("financial_stress", "Financial Stress", "number", "Financial stress (1-5)",
              minimum=1, maximum=5, integer=True, nullable=True),
    FieldSpec("family_history", "Family History of Mental Illness", "category",
              "Family history of mental illness?", choices=YES_NO),
    FieldSpec(TARGET, "Depression", "target", "Depression (true outcome)", feature=False),
)

FIELDS = tuple(  # every category and text column fits the store's VARCHAR(64)
    replace(f, max_length=f.max_length or TEXT_MAX_LENGTH) if f.kind in ("category", "text") else f for f in FIELDS
)
FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
RAW_COLUMNS: tuple[str, ...] = tuple(f.raw for f in FIELDS)
CANONICAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
RAW_TO_CANONICAL: dict[str, str] = {f.raw: f.name for f in FIELDS}
CANONICAL_TO_RAW: dict[str, str] = {f.name: f.raw for f in FIELDS}
FEATURES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.feature)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.feature and f.kind == "number")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.feature and f.kind == "category")
#: Cell texts that mean "no value".
MISSING_TOKENS = ("", "?", "nan", "NaN", "NA", "N/A", "None", "null")
