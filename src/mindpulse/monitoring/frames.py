"""The frames Evidently sees: which columns, in which dtypes, sampled to a cap, and their data definition.

Evidently is imported only inside :func:`data_definition`, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from mindpulse import contract as c

if TYPE_CHECKING:  # pragma: no cover
    from evidently import DataDefinition

PREDICTION = "prediction"
PROBABILITY = "probability"
#: Columns beside the features that are compared when both frames carry them: the true label
#: (prior shift) and the model's outputs (prediction drift).
OUTPUT_COLUMNS: tuple[str, ...] = (c.TARGET, PREDICTION, PROBABILITY)
LABEL_COLUMNS: tuple[str, ...] = (c.TARGET, PREDICTION)
NUMERIC_COLUMNS: frozenset[str] = frozenset((*c.NUMERIC_FEATURES, PROBABILITY))
CATEGORICAL_COLUMNS: frozenset[str] = frozenset((*c.CATEGORICAL_FEATURES, c.TARGET, PREDICTION))


@dataclass(frozen=True)
class Sample:
    """How many rows a frame had and how many Evidently was given."""

    rows: int
    used: int
    cap: int
    seed: int

    @property
    def sampled(self) -> bool:
        return self.used < self.rows

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "used": self.used, "sampled": self.sampled, "cap": self.cap, "seed": self.seed}


def require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ValueError naming the frame and every missing column."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}: got {type(frame).__name__}, expected a pandas DataFrame in the canonical form")
    missing = [col for col in columns if col not in frame.columns]
    if missing:
        raise ValueError(
            f"{name}: missing column(s) {', '.join(missing)}; expected the canonical columns of mindpulse.contract"
            + (" plus prediction and probability" if {PREDICTION, PROBABILITY} & set(missing) else "")
        )


def compared_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """The 13 features, then the label and model outputs that both frames carry (with at least one value)."""
    require_columns(reference, c.FEATURES, "reference")
    require_columns(current, c.FEATURES, "current")
    columns = list(c.FEATURES)
    for name in OUTPUT_COLUMNS:
        if name in reference.columns and name in current.columns and reference[name].notna().any() and current[name].notna().any():
            columns.append(name)
    return columns


def prepare(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy holding only ``columns`` in dtypes Evidently handles: numbers as float64, categories as text.

    The 0/1 labels become the text "0"/"1": Evidently's category counts accept str or int labels
    but not numpy floats, and a nullable label column would be read as floats.
    """
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name in columns:
        values = frame[name].reset_index(drop=True)
        if name in NUMERIC_COLUMNS:
            out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif name in LABEL_COLUMNS:
            numbers = pd.to_numeric(values, errors="coerce")
            out[name] = numbers.map(lambda v: None if pd.isna(v) else str(int(v))).astype(object)
        else:
            out[name] = values.astype(object).where(values.notna(), None)
    return out


def sample(frame: pd.DataFrame, cap: int, seed: int) -> tuple[pd.DataFrame, Sample]:
    """At most ``cap`` rows drawn without replacement with ``seed`` (the frame itself when it is small enough)."""
    rows = len(frame)
    if rows <= cap:
        return frame, Sample(rows, rows, cap, seed)
    return frame.sample(n=cap, random_state=seed).reset_index(drop=True), Sample(rows, cap, cap, seed)


def data_definition(columns: Sequence[str], classification: Sequence[Any] = ()) -> "DataDefinition":
    """An explicit Evidently data definition (without it, text-like categories such as city are taken as text)."""
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[col for col in columns if col in NUMERIC_COLUMNS],
        categorical_columns=[col for col in columns if col in CATEGORICAL_COLUMNS],
        classification=list(classification) or None,
    )


def evidently_version() -> str:
    from evidently import __version__

    return str(__version__)
