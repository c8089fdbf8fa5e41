"""Values a caller hands the store, checked and coerced: outcomes, ids, prediction fields, free text."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from numbers import Integral, Real
from typing import Any

from mindpulse import contract as c
from mindpulse.store.results import StoreError


def problem(field_name: str, value: Any, expected: str, row: int | str = 1) -> c.Problem:
    return c.Problem(row, field_name, str(value), expected)


def as_outcome(value: Any) -> int | None:
    """0 or 1 from an int, a whole float, a bool or the text '0'/'1'; None when it is neither."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value in ("0", "1") else None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Real) and not (isinstance(value, float) and math.isnan(value)):
        return int(value) if float(value) in (0.0, 1.0) else None
    return None


def as_id(value: Any) -> int | None:
    """A positive whole number up to 2**63 - 1 (the ids are BIGINT) from an int, a whole float or its text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        number = c.whole_number(value.strip())
        return int(number) if number is not None and 0 < number <= c.ID_MAX else None
    if isinstance(value, Integral):
        return int(value) if 0 < value <= c.ID_MAX else None
    if isinstance(value, Real) and math.isfinite(float(value)) and float(value) % 1 == 0 and 0 < value <= c.ID_MAX:
        return int(value)
    return None


def prediction_values(probability: Any, label: Any, model_version: Any, row: int | str = 1) -> tuple[dict[str, Any], list[c.Problem]]:
    problems: list[c.Problem] = []
    prob = None
    if isinstance(probability, Real) and not isinstance(probability, bool) and 0.0 <= float(probability) <= 1.0:
        prob = float(probability)
    else:
        problems.append(problem("probability", probability, "a number from 0 to 1", row))
    outcome = as_outcome(label)
    if outcome is None:
        problems.append(problem("prediction", label, "0 or 1 (the predicted label)", row))
    if not isinstance(model_version, str) or not model_version.strip() or len(model_version) > 64:
        problems.append(problem("model_version", model_version, "the model's version name (1 to 64 characters)", row))
    return {"probability": prob, "prediction": outcome, "model_version": model_version}, problems


def printable_text(name: str, value: Any, limit: int, expected: str) -> str:
    """A stripped, printable text of 1 to ``limit`` characters (control characters, C0 and C1, refused)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit or not text.isprintable():
        raise StoreError(f"{name}: got {c.echo(value) if isinstance(value, str) else repr(value)}, expected {expected}")
    return text


def naive_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value

