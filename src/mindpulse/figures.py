"""How figures are printed, one rule per kind, so a number reads the same in every command, notebook and page."""

from __future__ import annotations

import math
from typing import Any


def format_auc(value: Any) -> str:
    """A ROC-AUC: four decimals (Python's rounding of the stored float), or '' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.4f}"


def format_count(value: Any) -> str:
    """A row count: a whole number with thousands separators ('5,581', never '5,581.0'), or '–' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{int(round(float(value))):,}"
