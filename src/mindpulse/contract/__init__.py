"""The data contract: the real CSV's 18 columns, the canonical form used inside MindPulse, and
the cleaning and validation that turn one into the other.

The real file's header is kept exactly (``RAW_COLUMNS``); inside the package every frame uses
the snake_case canonical names (``CANONICAL_COLUMNS``). :func:`validate_frame` is the single
door between the two: it survives the quirks of the real file (quoted values, ``Others``, junk
cities, floats for integers, ``?`` for a missing ``Financial Stress``) and reports every bad
cell with its row, field, value and what would be accepted.

Rules are declared once in ``FIELDS``; the pandera schema, the dashboard's form and the
documentation are built from them. One job a module: :mod:`.fields` (the specs),
:mod:`.problems` (what is reported), :mod:`.cells` (per-cell parsing), :mod:`.schema` (the pandera
schema), :mod:`.frames` (validating frames and records), :mod:`.fast` (the fast validator of one
record) and :mod:`.files` (decoding a CSV file). Import the names from ``mindpulse.contract``.
"""

from mindpulse.contract.cells import record_cell, whole_number
from mindpulse.contract.fast import canonical_record
from mindpulse.contract.fields import (
    CANONICAL_COLUMNS,
    CANONICAL_TO_RAW,
    CATEGORICAL_FEATURES,
    CITIES,
    DEFAULT_PROFESSION,
    DEGREES,
    DIETARY_HABITS,
    ECHO_LIMIT,
    FEATURES,
    FIELD_BY_NAME,
    FIELDS,
    GENDERS,
    ID_MAX,
    NUMERIC_FEATURES,
    OTHER_CITY,
    RAW_COLUMNS,
    RAW_TO_CANONICAL,
    SLEEP_DURATIONS,
    TARGET,
    TEXT_MAX_LENGTH,
    YES_NO,
    FieldSpec,
    Kind,
)
from mindpulse.contract.files import read_csv, read_table
from mindpulse.contract.frames import features, records_frame, to_raw, validate_frame, validate_record
from mindpulse.contract.problems import ContractError, Problem, ValidationResult, echo, row_number
from mindpulse.contract.schema import canonical_schema
from mindpulse.io import InputFileError, input_name, read_input

_row = row_number  # the row number of an index label, under its older name

__all__ = [
    "CANONICAL_COLUMNS", "CANONICAL_TO_RAW", "CATEGORICAL_FEATURES", "CITIES", "DEFAULT_PROFESSION", "DEGREES",
    "DIETARY_HABITS", "ECHO_LIMIT", "FEATURES", "FIELDS", "FIELD_BY_NAME", "GENDERS", "ID_MAX", "NUMERIC_FEATURES",
    "OTHER_CITY", "RAW_COLUMNS", "RAW_TO_CANONICAL", "SLEEP_DURATIONS", "TARGET", "TEXT_MAX_LENGTH", "YES_NO",
    "ContractError", "FieldSpec", "InputFileError", "Kind", "Problem", "ValidationResult", "canonical_record",
    "canonical_schema", "echo", "features", "input_name", "read_csv", "read_input", "read_table", "record_cell",
    "records_frame", "row_number", "to_raw", "validate_frame", "validate_record", "whole_number",
]
