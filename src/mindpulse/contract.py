"""The data contract: the real CSV's 18 columns, the canonical form used inside MindPulse, and
the cleaning and validation that turn one into the other.

The real file's header is kept exactly (``RAW_COLUMNS``); inside the package every frame uses
the snake_case canonical names (``CANONICAL_COLUMNS``). :func:`validate_frame` is the single
door between the two: it survives the quirks of the real file (quoted values, ``Others``, junk
cities, floats for integers, ``?`` for a missing ``Financial Stress``) and reports every bad
cell with its row, field, value and what would be accepted.

Rules are declared once in ``FIELDS``; the pandera schema, the dashboard's form and the
documentation are built from them.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import Check

from mindpulse.io import InputFileError, input_name, read_input

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
_MISSING_TOKENS = ("", "?", "nan", "NaN", "NA", "N/A", "None", "null")


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``value`` quoted for a message, cut to ``limit`` characters with its length when longer."""
    text = value if isinstance(value, str) else _safe_text(value)
    quoted = repr(text)
    if len(text) <= limit and len(quoted) <= limit + 2:
        return quoted
    cut = min(len(text), limit)
    while cut > 1 and len(repr(text[:cut])) > limit + 2:  # escapes (\x00...) count too
        cut = max(1, cut * 3 // 4)
    return f"{text[:cut]!r}... ({len(text)} characters)"


def _safe_text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an int of more than 4,300 digits has no str() (CPython's limit)
        return f"(a whole number of about {int(value.bit_length() * 0.30103) + 1} digits)"


@dataclass(frozen=True)
class Problem:
    """One bad cell (or a bad header, with ``row='header'``; a bad file, with ``row='file'``)."""

    row: int | str
    field: str
    value: str
    expected: str

    def __str__(self) -> str:
        return f"row {self.row}, field {echo(self.field)}: got {echo(self.value)}, expected {self.expected}"

    def reason(self) -> str:
        """The problem without its row, for the rejects file's ``problems`` column."""
        return f"{echo(self.field, 200)[1:-1]}: got {echo(self.value)}, expected {self.expected}"


class ContractError(ValueError):
    """Input that breaks the data contract; ``problems`` lists each bad cell."""

    def __init__(self, problems: Iterable[Problem], source: str = "input", limit: int = 10, *, message: str | None = None):
        self.problems = list(problems)
        self.source = source
        if message is None:
            shown = "; ".join(str(p) for p in self.problems[:limit])
            more = len(self.problems) - limit
            suffix = f" (and {more} more)" if more > 0 else ""
            message = f"{source}: {len(self.problems)} problem(s): {shown}{suffix}"
        super().__init__(message)

    @classmethod
    def about_file(cls, source: str, what: str, expected: str) -> "ContractError":
        """A file that cannot be read as a CSV at all (one line: the file, what it is, what is needed)."""
        return cls([Problem("file", "(file)", what, expected)], source, message=f"{source}: {what}; expected {expected}")


@dataclass
class ValidationResult:
    """The rows that passed (canonical form) and those set aside, with every problem."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    city_grouped: int = 0  # values outside the city list mapped to 'Other'

    @property
    def n_valid(self) -> int:
        return len(self.valid)

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.__dict__ for p in self.problems], columns=["row", "field", "value", "expected"])

    def raise_if_rejected(self, source: str = "input") -> None:
        if self.problems:
            raise ContractError(self.problems, source)


def _checks(spec: FieldSpec) -> list[Check]:
    checks: list[Check] = []
    if spec.kind == "category":
        checks.append(Check.isin(list(spec.choices), error=spec.accepted))
    elif spec.kind == "number":
        checks.append(Check.in_range(spec.minimum, spec.maximum, error=spec.accepted))
        if spec.integer:
            checks.append(Check(lambda s: (s % 1 == 0) | s.isna(), element_wise=False, error=spec.accepted))
    elif spec.kind == "target":
        checks.append(Check.isin([0, 1], error=spec.accepted))
    return checks


def _column(spec: FieldSpec, require_target: bool) -> pa.Column:
    dtype = {"category": str, "text": str, "number": float, "id": "Int64", "target": "Int64"}[spec.kind]
    nullable = spec.nullable or (spec.kind == "target" and not require_target)
    return pa.Column(dtype, _checks(spec), nullable=nullable, unique=spec.kind == "id", required=False)


@lru_cache(maxsize=2)
def canonical_schema(require_target: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of a frame in the canonical form (built once per variant)."""
    return pa.DataFrameSchema(
        {spec.name: _column(spec, require_target) for spec in FIELDS},
        strict=False,
        ordered=False,
    )


def _clean_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip().strip("'\"").strip()


def _text(series: pd.Series) -> pd.Series:
    """Cells as stripped text without the surrounding quotes of the real file; NaN/None as ''.

    Each distinct value is cleaned once: survey columns hold few distinct values, so this is
    what keeps a million rows fast.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    cleaned = np.array([_clean_cell(u) for u in uniques] + [""], dtype=object)
    return pd.Series(cleaned[codes], index=series.index, dtype=object)


def _parse_number(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers from text; the second series flags cells that were not numbers at all."""
    missing = text.isin(_MISSING_TOKENS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    unparsable = numbers.isna() & ~missing
    return numbers, unparsable


#: Control characters, C0 (NUL included), DEL and C1 (U+0080-U+009F: U+009B is a terminal's CSI),
#: and lone surrogates: no text field may hold them.
_BAD_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_PLAIN_WHOLE = r"\d{1,18}"  # fits int64 as it is: the common case, parsed in bulk


def _bad_text(text: pd.Series, spec: FieldSpec) -> list[Any]:
    """Index labels of cells a text column cannot hold: control characters, or too long.

    A city longer than the column is outside the survey's list anyway and becomes 'Other'.
    """
    codes, uniques = pd.factorize(text)
    flags = np.array([
        bool(_BAD_CHARACTERS.search(u)) or (spec.kind == "text" and len(u) > (spec.max_length or len(u)))
        for u in uniques
    ] + [False], dtype=bool)
    return list(text.index[flags[codes]])


def whole_number(text: str) -> Decimal | None:
    """The exact value of a whole number written as ``12``, ``12.0`` or ``1.2e1``; None otherwise.

    Exact at any size (ids beyond 2**53 keep every digit, unlike a float); the same forms as
    pandas reads (ASCII digits, no ``_``).
    """
    if not text.isascii() or "_" in text or len(text) > 1000:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return number


def _whole_in_range(text: str, spec: FieldSpec) -> int | None:
    number = whole_number(text)
    low, high = (0, 1) if spec.kind == "target" else (0, ID_MAX)
    if number is None or not low <= number <= high:
        return None
    return int(number)


def _parse_whole_column(text: pd.Series, spec: FieldSpec) -> tuple[pd.Series, list[Any]]:
    """An id or target column as Int64; the second item lists the cells that are not allowed values."""
    missing = text.isin(_MISSING_TOKENS).to_numpy()
    plain = text.str.fullmatch(_PLAIN_WHOLE).fillna(False).to_numpy(dtype=bool)
    values = pd.Series(pd.NA, index=text.index, dtype="Int64")
    if plain.any():
        values[plain] = text[plain].astype("int64").to_numpy()
    bad: list[Any] = []
    for position in np.flatnonzero(~plain & ~missing):
        idx = text.index[position]
        number = _whole_in_range(str(text.iat[position]), spec)
        if number is None:
            bad.append(idx)
        else:
            values.iat[position] = number
    if spec.kind == "target":
        out_of_range = plain & (values.fillna(0).to_numpy() > 1)
        bad += list(text.index[out_of_range])
        values[out_of_range] = pd.NA
    return values, bad


def _parse_category(text: pd.Series, spec: FieldSpec) -> tuple[pd.Series, int]:
    lookup = {choice.lower(): choice for choice in spec.choices}
    mapped = text.str.lower().map(lookup)
    grouped = 0
    if spec.name == "city":
        # A city outside the list is 'Other'; a missing one stays missing, and the schema refuses it.
        unknown = mapped.isna() & ~text.isin(_MISSING_TOKENS)
        grouped = int(unknown.sum())
        mapped = mapped.mask(unknown, OTHER_CITY)
    else:
        # Unmapped values keep their text so the schema reports them as they were written.
        mapped = mapped.fillna(text.where(text != "", None))
    return mapped.astype(object), grouped


def validate_frame(raw: pd.DataFrame, *, require_target: bool = True, source: str = "input") -> ValidationResult:
    """Clean and validate a frame whose columns use either the real header or canonical names.

    The index labels of ``raw`` are the row numbers reported in problems. Raises
    :class:`ContractError` when a required column is missing (nothing is then loaded); bad
    cells only reject their own row.
    """
    rename = {c: RAW_TO_CANONICAL.get(str(c).strip(), str(c).strip()) for c in raw.columns}
    frame = raw.rename(columns=rename)
    if frame.columns.duplicated().any():
        dupes = sorted({CANONICAL_TO_RAW.get(c, c) for c in frame.columns[frame.columns.duplicated()]})
        raise ContractError([Problem("header", d, "(twice)", "each column once") for d in dupes], source)
    header_problems = [
        Problem("header", spec.raw, "(missing)", f"a column named exactly {spec.raw!r}")
        for spec in FIELDS
        if spec.name not in frame.columns and (spec.required if spec.kind != "target" else require_target)
    ]
    if header_problems:
        raise ContractError(header_problems, source)
    extra = [CANONICAL_TO_RAW.get(c, str(c)) for c in raw.columns if rename[c] not in CANONICAL_COLUMNS]

    texts: dict[str, pd.Series] = {}
    parsed: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    city_grouped = 0
    for spec in FIELDS:
        if spec.name not in frame.columns:
            if spec.kind == "id":
                parsed[spec.name] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
            elif spec.kind == "target":
                parsed[spec.name] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
            else:
                parsed[spec.name] = pd.Series(spec.default, index=frame.index,
                                              dtype=float if spec.kind == "number" else object)
            texts[spec.name] = pd.Series("", index=frame.index, dtype=object)
            continue
        text = _text(frame[spec.name])
        texts[spec.name] = text
        if spec.kind in ("category", "text"):
            for idx in _bad_text(text, spec):
                problems.append(Problem(_row(idx), spec.raw, str(text.at[idx]), spec.accepted))
        if spec.kind == "number":
            numbers, unparsable = _parse_number(text)
            for idx in text.index[unparsable.to_numpy()]:
                problems.append(Problem(_row(idx), spec.raw, str(text.at[idx]), spec.accepted))
            parsed[spec.name] = numbers
        elif spec.kind in ("id", "target"):
            parsed[spec.name], bad = _parse_whole_column(text, spec)
            for idx in bad:
                problems.append(Problem(_row(idx), spec.raw, str(text.at[idx]), spec.accepted))
        elif spec.kind == "category":
            parsed[spec.name], grouped = _parse_category(text, spec)
            city_grouped += grouped
        else:  # free text
            parsed[spec.name] = text.where(text != "", spec.default).astype(object)

    canonical = pd.DataFrame(parsed, index=frame.index)[list(CANONICAL_COLUMNS)]
    unparsable_rows = {p.row for p in problems}
    try:
        canonical_schema(require_target).validate(canonical, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        for case in cases.itertuples(index=False):
            column = case.column
            if column not in FIELD_BY_NAME or case.index is None or pd.isna(case.index):
                continue
            spec = FIELD_BY_NAME[column]
            idx = case.index
            if _row(idx) in unparsable_rows and _already_reported(problems, idx, spec.raw):
                continue
            value = str(texts[column].get(idx, case.failure_case))
            if case.check == "not_nullable":
                expected = f"a value ({spec.accepted})"
            elif str(case.check).startswith("field_uniqueness"):
                expected = "an id that appears once in the input"
            else:
                expected = spec.accepted
            problems.append(Problem(_row(idx), spec.raw, value, expected))

    problems = _dedupe(problems)
    bad_rows = {p.row for p in problems}
    bad_mask = canonical.index.map(lambda i: _row(i) in bad_rows).to_numpy(dtype=bool) if bad_rows else np.zeros(len(canonical), bool)
    valid = canonical.loc[~bad_mask].copy()
    for name in CANONICAL_COLUMNS:
        spec = FIELD_BY_NAME[name]
        if spec.kind in ("category", "text"):
            valid[name] = valid[name].astype(object)
    rejected = raw.loc[bad_mask].copy()
    if len(rejected):
        reasons: dict[Any, list[str]] = {}
        for p in problems:
            reasons.setdefault(p.row, []).append(p.reason())
        rejected["problems"] = [" | ".join(reasons.get(_row(i), [])) for i in rejected.index]
    return ValidationResult(valid=valid, rejected=rejected, problems=problems, extra_columns=extra,
                            city_grouped=city_grouped)


def _row(index_label: Any) -> int | str:
    try:
        return int(index_label)
    except (TypeError, ValueError):
        return str(index_label)


def _already_reported(problems: list[Problem], idx: Any, field_name: str) -> bool:
    return any(p.row == _row(idx) and p.field == field_name for p in problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[Any, str], Problem] = {}
    for p in problems:
        seen.setdefault((p.row, p.field), p)
    return sorted(seen.values(), key=lambda p: (str(type(p.row)), p.row if isinstance(p.row, int) else 0, p.field))


def record_cell(value: Any) -> str | None:
    """The text a CSV cell would hold for one record value; None when no cell could hold it.

    Text stays as it is; numbers become their shortest exact text (``20``, ``20.0``, ``1e+300``);
    None and NaN are missing (``""``). True/False, lists, objects and any other type are not
    values of the contract.
    """
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, int):
        return _safe_text(value)
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    return None


def _record_texts(record: Mapping[str, Any]) -> tuple[dict[str, str], list[Problem]]:
    """The record as the text cells of one CSV row, and a problem for each value no cell could hold."""
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for key, value in record.items():
        name = _safe_text(key).strip()
        text = record_cell(value)
        if text is None:
            spec = FIELD_BY_NAME.get(RAW_TO_CANONICAL.get(name, name))
            if spec is not None:
                problems.append(Problem(1, spec.raw, _json_text(value), spec.accepted))
            text = ""
        texts[name] = text
    return texts, problems


def records_frame(records: list[Mapping[str, Any]]) -> tuple[pd.DataFrame, list[Problem]]:
    """Records (JSON objects, real-header or canonical keys) as the text cells of a CSV, rows numbered from 1.

    For :func:`validate_frame`; the second value lists each value no cell could hold (a list, an
    object, true/false), by row, the way :func:`validate_record` reports it for one record.
    """
    rows: list[dict[str, str]] = []
    problems: list[Problem] = []
    for number, record in enumerate(records, start=1):
        texts, typed = _record_texts(record)
        rows.append(texts)
        problems += [Problem(number, p.field, p.value, p.expected) for p in typed]
    frame = pd.DataFrame(rows, index=range(1, len(rows) + 1), dtype=object)
    return frame.fillna(""), problems


def _json_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value, default=repr)[:1000]
    except (TypeError, ValueError, RecursionError):
        return f"({type(value).__name__})"


def validate_record(record: Mapping[str, Any], *, require_target: bool = False) -> dict[str, Any]:
    """Validate one record (real header or canonical keys); return its canonical form.

    Each value is read as the cell of a CSV would be (see :func:`record_cell`). Raises
    :class:`ContractError` naming each bad field; optional fields absent from the record take
    their documented defaults.
    """
    texts, type_problems = _record_texts(record)
    frame = pd.DataFrame([texts], index=[1], dtype=object)
    try:
        result = validate_frame(frame, require_target=require_target, source="record")
    except ContractError as exc:
        raise ContractError(type_problems + exc.problems, "record") from None
    typed = {p.field for p in type_problems}
    problems = type_problems + [p for p in result.problems if p.field not in typed]
    if problems:
        raise ContractError(problems, "record")
    row = result.valid.iloc[0].to_dict()
    return {k: (None if _is_missing(v) else v) for k, v in row.items()}


def canonical_record(record: Mapping[str, Any], *, require_target: bool = False) -> dict[str, Any]:
    """One record (real-header or canonical keys) in the canonical form, missing values as None.

    The single door for one record, used by prediction, the store and the dashboard. A valid
    record is checked field by field in pure Python (microseconds; :func:`validate_record`
    builds a pandera frame, ~20 ms); anything doubtful goes to :func:`validate_record`, which
    gives the same result or a :class:`ContractError` naming each bad field.
    """
    fast = _fast_record(record, require_target)
    return fast if fast is not None else validate_record(record, require_target=require_target)


def _fast_record(record: Mapping[str, Any], require_target: bool) -> dict[str, Any] | None:
    cells: dict[str, str] = {}
    for key, value in record.items():
        if not isinstance(key, str):
            return None
        name = key.strip()
        name = RAW_TO_CANONICAL.get(name, name)
        text = record_cell(value)
        if name in cells or text is None:
            return None
        cells[name] = text
    out: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.name not in cells:
            if spec.kind == "target" and require_target:
                return None
            if spec.kind in ("id", "target"):
                out[spec.name] = None
            elif spec.required:
                return None
            else:
                out[spec.name] = spec.default
            continue
        text = _clean_cell(cells[spec.name])
        if _BAD_CHARACTERS.search(text):
            return None
        if spec.kind == "text":
            if len(text) > (spec.max_length or len(text)):
                return None
            out[spec.name] = text or spec.default
        elif spec.kind == "category":
            choice = _CHOICES[spec.name].get(text.lower())
            if choice is None:
                if spec.name != "city" or text in _MISSING_TOKENS:
                    return None
                choice = OTHER_CITY
            out[spec.name] = choice
        elif text in _MISSING_TOKENS:
            if spec.kind == "number" and not spec.nullable or spec.kind == "target" and require_target:
                return None
            out[spec.name] = None
        elif spec.kind == "number":
            if not text.isascii() or "_" in text:
                return None  # float() accepts forms pandas does not; let the contract decide
            try:
                number = float(text)
            except ValueError:
                return None
            if not spec.minimum <= number <= spec.maximum or (spec.integer and number % 1):
                return None
            out[spec.name] = number
        else:  # id or target
            whole = _whole_in_range(text, spec)
            if whole is None:
                return None
            out[spec.name] = whole
    return out


_CHOICES = {spec.name: {choice.lower(): choice for choice in spec.choices} for spec in FIELDS if spec.kind == "category"}


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def read_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The cells of a CSV as text, indexed by line number (the header is line 1), and the
    source's name. ``-`` reads standard input; pipes such as ``/dev/stdin`` work too.

    Raises ``FileNotFoundError`` for a missing file and :class:`ContractError` with one line
    for anything that is not a UTF-8 CSV (a directory, an empty input, another encoding,
    compressed or binary content, NUL bytes, an unclosed quote) or whose header names a
    column twice.
    """
    source = input_name(path)
    try:
        data = read_input(path)
    except InputFileError as exc:
        raise ContractError.about_file(source, exc.what, "a CSV file (or - for standard input)") from None
    text = _decode(data, source)
    try:
        header = pd.read_csv(io.StringIO(text), header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False)
        names = [str(name).strip() for name in header.iloc[0]]
        twice = sorted(name for name, count in Counter(names).items() if count > 1 and name)
        if twice:
            raise ContractError([Problem("header", name, "(twice)", "each column once") for name in twice], source)
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise ContractError.about_file(source, "empty (no header row)", "a CSV with a header row") from None
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, ContractError):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractError.about_file(source, f"not a readable CSV ({echo(reason, 120)[1:-1]})",
                                       "comma-separated text with one header row") from None
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # line numbers: the header is line 1
    return raw, source


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text (a BOM is dropped); anything else is refused with what it looks like."""
    expected = "a CSV in UTF-8 text"
    if not data.strip():
        raise ContractError.about_file(source, "empty (no header row)", "a CSV with a header row")
    if data[:2] == b"\x1f\x8b":
        raise ContractError.about_file(source, "gzip-compressed data (decompress it first)", expected)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ContractError.about_file(source, "UTF-16 text (save it as UTF-8)", expected)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ContractError.about_file(
            source, f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; save the file as UTF-8)", expected
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ContractError.about_file(source, f"a NUL byte on line {line} (binary or UTF-16 content)", expected)
    return text


def read_csv(path: str | Path, *, require_target: bool = True) -> ValidationResult:
    """Read and validate a CSV in the real file's format; ``row`` in problems is the line number."""
    raw, source = read_table(path)
    return validate_frame(raw, require_target=require_target, source=source)


def _quote(value: Any) -> Any:
    """The real file wraps multi-word category values in single quotes."""
    if isinstance(value, str) and " " in value:
        return f"'{value}'"
    return value


def to_raw(canonical: pd.DataFrame, *, missing_token: str = "?") -> pd.DataFrame:
    """A canonical frame in the real CSV's format: header, quoting and floats as in the file."""
    out = pd.DataFrame(index=canonical.index)
    for spec in FIELDS:
        if spec.name not in canonical.columns:
            continue
        col = canonical[spec.name]
        if spec.kind in ("category", "text"):
            out[spec.raw] = col.map(_quote)
        elif spec.kind == "number":
            out[spec.raw] = col.map(lambda v: missing_token if pd.isna(v) else float(v))
        else:
            out[spec.raw] = col.astype("Int64")
    return out


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns of a canonical frame, in contract order."""
    return frame.loc[:, list(FEATURES)]
