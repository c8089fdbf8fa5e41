"""Validation of frames and records: :func:`validate_frame` is the single door between the real
file's form and the canonical one; it reports every bad cell with its row, field, value and what
would be accepted. Also the way back (:func:`to_raw`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mindpulse.contract.cells import (
    bad_text_cells,
    parse_category,
    parse_number,
    parse_whole_column,
    cell_texts,
    is_missing,
    record_cell,
)
from mindpulse.contract.fields import CANONICAL_COLUMNS, CANONICAL_TO_RAW, FEATURES, FIELD_BY_NAME, FIELDS, RAW_TO_CANONICAL
from mindpulse.contract.problems import ContractError, Problem, ValidationResult, row_number, safe_text
from mindpulse.contract.schema import canonical_schema

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
        text = cell_texts(frame[spec.name])
        texts[spec.name] = text
        if spec.kind in ("category", "text"):
            for idx in bad_text_cells(text, spec):
                problems.append(Problem(row_number(idx), spec.raw, str(text.at[idx]), spec.accepted))
        if spec.kind == "number":
            numbers, unparsable = parse_number(text)
            for idx in text.index[unparsable.to_numpy()]:
                problems.append(Problem(row_number(idx), spec.raw, str(text.at[idx]), spec.accepted))
            parsed[spec.name] = numbers
        elif spec.kind in ("id", "target"):
            parsed[spec.name], bad = parse_whole_column(text, spec)
            for idx in bad:
                problems.append(Problem(row_number(idx), spec.raw, str(text.at[idx]), spec.accepted))
        elif spec.kind == "category":
            parsed[spec.name], grouped = parse_category(text, spec)
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
            if row_number(idx) in unparsable_rows and _already_reported(problems, idx, spec.raw):
                continue
            value = str(texts[column].get(idx, case.failure_case))
            if case.check == "not_nullable":
                expected = f"a value ({spec.accepted})"
            elif str(case.check).startswith("field_uniqueness"):
                expected = "an id that appears once in the input"
            else:
                expected = spec.accepted
            problems.append(Problem(row_number(idx), spec.raw, value, expected))

    problems = _dedupe(problems)
    bad_rows = {p.row for p in problems}
    bad_mask = canonical.index.map(lambda i: row_number(i) in bad_rows).to_numpy(dtype=bool) if bad_rows else np.zeros(len(canonical), bool)
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
        rejected["problems"] = [" | ".join(reasons.get(row_number(i), [])) for i in rejected.index]
    return ValidationResult(valid=valid, rejected=rejected, problems=problems, extra_columns=extra,
                            city_grouped=city_grouped)


def _already_reported(problems: list[Problem], idx: Any, field_name: str) -> bool:
    return any(p.row == row_number(idx) and p.field == field_name for p in problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[Any, str], Problem] = {}
    for p in problems:
        seen.setdefault((p.row, p.field), p)
    return sorted(seen.values(), key=lambda p: (str(type(p.row)), p.row if isinstance(p.row, int) else 0, p.field))


def _record_texts(record: Mapping[str, Any]) -> tuple[dict[str, str], list[Problem]]:
    """The record as the text cells of one CSV row, and a problem for each value no cell could hold."""
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for key, value in record.items():
        name = safe_text(key).strip()
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
    return {k: (None if is_missing(v) else v) for k, v in row.items()}


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
