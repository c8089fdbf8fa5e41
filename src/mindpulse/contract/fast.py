"""The fast validator of one record: a valid record is checked field by field in pure Python;
anything doubtful goes to :func:`~mindpulse.contract.frames.validate_record`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mindpulse.contract.cells import BAD_CHARACTERS, clean_cell, record_cell, whole_in_range
from mindpulse.contract.fields import FIELDS, MISSING_TOKENS, OTHER_CITY, RAW_TO_CANONICAL
from mindpulse.contract.frames import validate_record

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
        text = clean_cell(cells[spec.name])
        if BAD_CHARACTERS.search(text):
            return None
        if spec.kind == "text":
            if len(text) > (spec.max_length or len(text)):
                return None
            out[spec.name] = text or spec.default
        elif spec.kind == "category":
            choice = _CHOICES[spec.name].get(text.lower())
            if choice is None:
                if spec.name != "city" or text in MISSING_TOKENS:
                    return None
                choice = OTHER_CITY
            out[spec.name] = choice
        elif text in MISSING_TOKENS:
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
            whole = whole_in_range(text, spec)
            if whole is None:
                return None
            out[spec.name] = whole
    return out


_CHOICES = {spec.name: {choice.lower(): choice for choice in spec.choices} for spec in FIELDS if spec.kind == "category"}

