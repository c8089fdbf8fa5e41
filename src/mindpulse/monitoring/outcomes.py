"""Which outcomes to ask for when drift fires and no new outcomes exist: a stratified sample of the drifted cohort.

Drift says the students changed; it does not say whether the model still serves them. Retraining
on the same labelled data would only copy the champion, so the retrain run asks counsellors for
the outcomes of a few predictions of the drifted cohort instead ("outcomes that would tell us
most"). The sample is stratified by model version, issued label and risk band (probability
below 0.2, 0.2-0.5, 0.5-0.8, from 0.8), each stratum in proportion to its rows and every
stratum with at least one row while there is room: once those outcomes come back, the estimate's
error (CBPE vs realized) and the drift-plus-labels retrain rule have rows from every part of the
cohort, not only its most common answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RISK_BANDS: tuple[float, ...] = (0.0, 0.2, 0.5, 0.8, 1.0000001)
COLUMNS: tuple[str, ...] = ("prediction_id", "model_version", "prediction", "probability", "created_at", "stratum")


def outcome_request(frame: pd.DataFrame, rows: int, *, seed: int) -> pd.DataFrame:
    """Up to ``rows`` unlabelled predictions of ``frame`` (columns of the store's frames), stratified; by prediction id."""
    if int(rows) != rows or rows < 1:
        raise ValueError(f"rows: got {rows!r}, expected a whole number of at least 1")
    pool = frame.loc[frame["depression"].isna() & frame["probability"].notna()].copy()
    if pool.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    band = pd.cut(pool["probability"].astype(float), bins=list(RISK_BANDS), right=False,
                  labels=["<0.2", "0.2-0.5", "0.5-0.8", ">=0.8"]).astype(str)
    pool["stratum"] = (pool["model_version"].fillna("(none)").astype(str) + " / label "
                       + pool["prediction"].astype("Int64").astype(str) + " / risk " + band)
    sizes = pool["stratum"].value_counts().sort_index()
    take = _allocate(sizes, min(int(rows), len(pool)))
    rng = np.random.default_rng(seed)
    chosen = [group.iloc[np.sort(rng.choice(len(group), size=take[name], replace=False))]
              for name, group in pool.groupby("stratum", sort=True) if take.get(name)]
    out = pd.concat(chosen).sort_values("prediction_id")
    return out[list(COLUMNS)].reset_index(drop=True)


def _allocate(sizes: pd.Series, total: int) -> dict[str, int]:
    """Proportional allocation (largest remainders), one row per stratum first while ``total`` allows."""
    take = {name: 0 for name in sizes.index}
    for name in sizes.sort_values(ascending=False).index[:total]:
        take[name] = 1
    left = total - sum(take.values())
    if left > 0:
        room = sizes - pd.Series(take)
        share = room / room.sum() * left
        extra = np.floor(share).astype(int)
        for name, n in extra.items():
            take[name] += int(n)
        remainder = (share - extra).sort_values(ascending=False)
        for name in remainder.index[: left - int(extra.sum())]:
            take[name] += 1
    return take
