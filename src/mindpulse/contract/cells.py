"""Per-cell parsing: text cleaned of the real file's quoting, numbers, whole numbers (exact at any
size), categories, and the text a CSV cell would hold for one record value."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from mindpulse.contract.fields import ID_MAX, MISSING_TOKENS, OTHER_CITY, FieldSpec
from mindpulse.contract.problems import safe_text

def clean_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip().strip("'\"").strip()


def cell_texts(series: pd.Series) -> pd.Series:
    """Cells as stripped text without the surrounding quotes of the real file; NaN/None as ''.

    Each distinct value is cleaned once: survey columns hold few distinct values, so this is
    what keeps a million rows fast.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    cleaned = np.array([clean_cell(u) for u in uniques] + [""], dtype=object)
    return pd.Series(cleaned[codes], index=series.index, dtype=object)


def parse_number(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers from text; the second series flags cells that were not numbers at all."""
    missing = text.isin(MISSING_TOKENS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    unparsable = numbers.isna() & ~missing
    return numbers, unparsable


#: Control characters, C0 (NUL included), DEL and C1 (U+0080-U+009F: U+009B is a terminal's CSI),
#: and lone surrogates: no text field may hold them.
BAD_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_PLAIN_WHOLE = r"\d{1,18}"  # fits int64 as it is: the common case, parsed in bulk


def bad_text_cells(text: pd.Series, spec: FieldSpec) -> list[Any]:
    """Index labels of cells a text column cannot hold: control characters, or too long.

    A city longer than the column is outside the survey's list anyway and becomes 'Other'.
    """
    codes, uniques = pd.factorize(text)
    flags = np.array([
        bool(BAD_CHARACTERS.search(u)) or (spec.kind == "text" and len(u) > (spec.max_length or len(u)))
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


def whole_in_range(text: str, spec: FieldSpec) -> int | None:
    number = whole_number(text)
    low, high = (0, 1) if spec.kind == "target" else (0, ID_MAX)
    if number is None or not low <= number <= high:
        return None
    return int(number)


def parse_whole_column(text: pd.Series, spec: FieldSpec) -> tuple[pd.Series, list[Any]]:
    """An id or target column as Int64; the second item lists the cells that are not allowed values."""
    missing = text.isin(MISSING_TOKENS).to_numpy()
    plain = text.str.fullmatch(_PLAIN_WHOLE).fillna(False).to_numpy(dtype=bool)
    values = pd.Series(pd.NA, index=text.index, dtype="Int64")
    if plain.any():
        values[plain] = text[plain].astype("int64").to_numpy()
    bad: list[Any] = []
    for position in np.flatnonzero(~plain & ~missing):
        idx = text.index[position]
        number = whole_in_range(str(text.iat[position]), spec)
        if number is None:
            bad.append(idx)
        else:
            values.iat[position] = number
    if spec.kind == "target":
        out_of_range = plain & (values.fillna(0).to_numpy() > 1)
        bad += list(text.index[out_of_range])
        values[out_of_range] = pd.NA
    return values, bad


def parse_category(text: pd.Series, spec: FieldSpec) -> tuple[pd.Series, int]:
    lookup = {choice.lower(): choice for choice in spec.choices}
    mapped = text.str.lower().map(lookup)
    grouped = 0
    if spec.name == "city":
        # A city outside the list is 'Other'; a missing one stays missing, and the schema refuses it.
        unknown = mapped.isna() & ~text.isin(MISSING_TOKENS)
        grouped = int(unknown.sum())
        mapped = mapped.mask(unknown, OTHER_CITY)
    else:
        # Unmapped values keep their text so the schema reports them as they were written.
        mapped = mapped.fillna(text.where(text != "", None))
    return mapped.astype(object), grouped


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
        return safe_text(value)
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    return None


def is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False

