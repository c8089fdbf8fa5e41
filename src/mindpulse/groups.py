"""The groups a model is judged and described on: gender, age band, and any column the settings name.

One definition, used by the promotion gate (a challenger must not get worse for any group it
can be judged on) and by the model card (each version's metrics per group). A group smaller
than ``GROUP_MIN_SIZE`` rows (or without both outcomes) is reported, never judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Age bands of the data card (its depression rate falls with age: 0.72 at 18-20, 0.28 at 36+).
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("18-20", -np.inf, 21), ("21-23", 21, 24), ("24-26", 24, 27),
    ("27-30", 27, 31), ("31-35", 31, 36), ("36+", 36, np.inf),
)

#: The attributes every model is judged on; the settings' ``GROUP_COLUMNS`` adds canonical columns.
DEFAULT_ATTRIBUTES: tuple[str, ...] = ("gender", "age_band")


def age_band(age: pd.Series) -> pd.Series:
    """The data card's age band of each age ("18-20" ... "36+"); missing ages give "unknown"."""
    values = pd.to_numeric(age, errors="coerce")
    labels = pd.Series("unknown", index=age.index, dtype=object)
    for name, low, high in AGE_BANDS:
        labels[(values >= low) & (values < high)] = name
    return labels


def attributes(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The group attributes: the defaults, then the extra columns in the order given, once each."""
    seen: list[str] = list(DEFAULT_ATTRIBUTES)
    for name in extra:
        if name and name not in seen:
            seen.append(name)
    return tuple(seen)


def group_labels(frame: pd.DataFrame, extra: Iterable[str] = ()) -> pd.DataFrame:
    """One column per attribute holding each row's group (as text), aligned with ``frame``.

    ``age_band`` is derived from ``age``; every other attribute is a canonical column of the
    frame. A missing column is a KeyError naming it and the columns there are.
    """
    out = pd.DataFrame(index=frame.index)
    for name in attributes(extra):
        if name == "age_band":
            if "age" not in frame.columns:
                raise KeyError(f"group attribute 'age_band' needs the column 'age'; the data has {sorted(frame.columns)}")
            out[name] = age_band(frame["age"])
        else:
            if name not in frame.columns:
                raise KeyError(f"group attribute {name!r} is not a column of the data; it has {sorted(frame.columns)}")
            out[name] = frame[name].astype(object).where(frame[name].notna(), "unknown").astype(str)
    return out


@dataclass(frozen=True)
class Group:
    """One group: its attribute, its value, and the positions of its rows."""

    attribute: str
    value: str
    rows: np.ndarray

    @property
    def size(self) -> int:
        return int(self.rows.size)

    @property
    def name(self) -> str:
        return f"{self.attribute}={self.value}"


def iter_groups(labels: pd.DataFrame) -> Iterator[Group]:
    """Every (attribute, value) group of ``labels`` with the positions of its rows, in a stable order."""
    for attribute in labels.columns:
        column = labels[attribute].to_numpy()
        for value in sorted(set(column)):
            yield Group(attribute, str(value), np.flatnonzero(column == value))
