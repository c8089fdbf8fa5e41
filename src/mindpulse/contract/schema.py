"""The pandera schema of a frame in the canonical form, built from the field specs."""

from __future__ import annotations

from functools import lru_cache

import pandera.pandas as pa
from pandera import Check

from mindpulse.contract.fields import FIELDS, FieldSpec

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
