"""What the contract reports: one bad cell (:class:`Problem`), the error that lists them, and a
validation's result; values are echoed cut to a readable length."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mindpulse.contract.fields import ECHO_LIMIT

def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``value`` quoted for a message, cut to ``limit`` characters with its length when longer."""
    text = value if isinstance(value, str) else safe_text(value)
    quoted = repr(text)
    if len(text) <= limit and len(quoted) <= limit + 2:
        return quoted
    cut = min(len(text), limit)
    while cut > 1 and len(repr(text[:cut])) > limit + 2:  # escapes (\x00...) count too
        cut = max(1, cut * 3 // 4)
    return f"{text[:cut]!r}... ({len(text)} characters)"


def safe_text(value: Any) -> str:
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


def row_number(index_label: Any) -> int | str:
    try:
        return int(index_label)
    except (TypeError, ValueError):
        return str(index_label)

