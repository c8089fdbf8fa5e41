"""A seeded generator of survey rows in the real CSV's exact format, quirks included.

Features are drawn independently from the real file's marginals (its numeric features are
nearly uncorrelated) except ``Degree``, which depends on age as in the real file (``Class 12``
students are 18-20). The label is drawn from the logistic model the real file fits (DATA_CARD:
5-fold ROC-AUC 0.921), so the true probability of every row is known and the oracle ROC-AUC
can be computed.

Production traffic can be shifted: ``exam_season`` (academic pressure and work/study hours up,
sleep down), ``generic`` (chosen columns pushed by a strength, in standard deviations for
numbers), and a label shift (a change of the logistic intercept: more or fewer positives for
the same features).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from mindpulse import contract as c

Scenario = Literal["none", "exam_season", "generic"]
SCENARIOS: tuple[str, ...] = ("none", "exam_season", "generic")

# --- Marginals of the real file (DATA_CARD) ---------------------------------------------------
GENDER_P = {"Male": 15_547, "Female": 12_354}
ACADEMIC_PRESSURE_P = {1: 4_801, 2: 4_178, 3: 7_462, 4: 5_155, 5: 6_296}
STUDY_SATISFACTION_P = {1: 5_451, 2: 5_838, 3: 5_821, 4: 6_359, 5: 4_422}
FINANCIAL_STRESS_P = {1: 5_121, 2: 5_061, 3: 5_226, 4: 5_775, 5: 6_715}
SLEEP_P = {"Less than 5 hours": 8_310, "7-8 hours": 7_346, "5-6 hours": 6_183, "More than 8 hours": 6_044}
DIET_P = {"Unhealthy": 10_317, "Moderate": 9_921, "Healthy": 7_651}
SUICIDAL_P = {"Yes": 17_656, "No": 10_245}
FAMILY_P = {"No": 14_398, "Yes": 13_503}
# Work/Study Hours 0..12: mean 7.16, sd 3.71, quartiles 4/8/10.
HOURS_P = {0: 1_700, 1: 1_180, 2: 1_590, 3: 1_470, 4: 1_620, 5: 1_290, 6: 2_240, 7: 2_000,
           8: 2_510, 9: 1_990, 10: 4_240, 11: 2_890, 12: 3_190}
# Age 18..59: mean 25.8, sd 4.9, quartiles 21/25/30; a thin tail past 34.
AGE_P = {18: 1_587, 19: 1_560, 20: 2_237, 21: 1_726, 22: 1_160, 23: 1_645, 24: 2_258, 25: 1_784,
         26: 1_155, 27: 1_462, 28: 2_133, 29: 1_950, 30: 1_145, 31: 1_427, 32: 1_262, 33: 1_893,
         34: 1_468, 35: 10, 36: 7, 37: 6, 38: 8, 39: 5, 41: 3, 42: 4, 43: 2, 44: 3, 46: 2, 48: 3,
         49: 1, 51: 2, 54: 1, 56: 1, 58: 1, 59: 1}
CITY_P = {"Kalyan": 1_570, "Srinagar": 1_372, "Hyderabad": 1_340, "Vasai-Virar": 1_290,
          "Lucknow": 1_155, "Thane": 1_139, "Ludhiana": 1_111, "Agra": 1_094, "Surat": 1_078,
          "Kolkata": 1_066, "Jaipur": 1_036, "Patna": 1_007, "Visakhapatnam": 969, "Pune": 968,
          "Ahmedabad": 951, "Bhopal": 934, "Chennai": 885, "Meerut": 825, "Rajkot": 816,
          "Delhi": 768, "Bangalore": 767, "Ghaziabad": 745, "Mumbai": 699, "Vadodara": 694,
          "Varanasi": 685, "Nagpur": 651, "Indore": 643, "Kanpur": 609, "Nashik": 547, "Faridabad": 461}
JUNK_CITIES = ("3.0", "M.Tech", "Gaurav", "Less Delhi", "Khaziabad", "Saanvi", "Bhavna", "City",
               "Less than 5 Kalyan", "Mira", "Harsha", "Vaanya", "Harsh", "Reyansh", "Kibara",
               "Rashi", "ME", "M.Com", "Nalyan", "Mihir", "Nalini", "Nandini")
OTHER_PROFESSIONS = ("Architect", "Teacher", "Digital Marketer", "Content Writer", "Chef", "Doctor",
                     "Pharmacist", "Civil Engineer", "UX/UI Designer", "Educational Consultant",
                     "Manager", "Lawyer", "Entrepreneur")
# Degrees other than 'Class 12' (which depends on age).
DEGREE_P = {"B.Ed": 1_867, "B.Com": 1_506, "B.Arch": 1_478, "BCA": 1_433, "MSc": 1_190,
            "B.Tech": 1_152, "MCA": 1_044, "M.Tech": 1_022, "BHM": 925, "BSc": 888, "M.Ed": 821,
            "B.Pharm": 810, "M.Com": 734, "MBBS": 696, "BBA": 696, "LLB": 671, "BE": 613, "BA": 600,
            "M.Pharm": 582, "MD": 572, "MBA": 562, "MA": 544, "PhD": 522, "LLM": 482, "MHM": 191,
            "ME": 185, "Others": 35}

MEAN_FINANCIAL_STRESS = sum(k * v for k, v in FINANCIAL_STRESS_P.items()) / sum(FINANCIAL_STRESS_P.values())

# Rates of the quirks in the real file (rows per 27,901).
QUIRK_RATES = {
    "junk_city": 30 / 27_901,
    "other_profession": 31 / 27_901,
    "sleep_others": 18 / 27_901,
    "diet_others": 12 / 27_901,
    "non_student_zeros": 9 / 27_901,  # academic pressure, CGPA and study satisfaction all 0
    "missing_financial_stress": 3 / 27_901,
    "work_pressure": 3 / 27_901,
    "job_satisfaction": 8 / 27_901,
}

# --- The generating model: additive on the logit scale ----------------------------------------
# One effect per level, derived from DATA_CARD's rates by level by
# ``scripts/calibrate_synthetic.py`` (the card's own logistic coefficients, applied to
# independent features, give flatter rates and an oracle ROC-AUC of only ~0.87). Levels absent
# from a table (``Others``, an academic pressure of 0) take the table's first level's effect.
INTERCEPT = -1.834
EFFECTS: dict[str, dict] = {
    'academic_pressure': {1.0: 0.0, 2.0: 1.258, 3.0: 2.483, 4.0: 3.565, 5.0: 4.562},
    'financial_stress': {1.0: 0.0, 2.0: 0.717, 3.0: 1.618, 4.0: 2.297, 5.0: 3.189},
    'study_satisfaction': {1.0: 0.0, 2.0: -0.4, 3.0: -0.818, 4.0: -1.215, 5.0: -1.48},
    'suicidal_thoughts': {'Yes': 0.0, 'No': -3.512},
    'dietary_habits': {'Healthy': 0.0, 'Moderate': 0.667, 'Unhealthy': 1.618},
    'sleep_duration': {'Less than 5 hours': 0.0, '5-6 hours': -0.493, '7-8 hours': -0.375, 'More than 8 hours': -0.88},
    'age_band': {'18-20': 0.0, '21-23': -0.488, '24-26': -0.754, '27-30': -1.233, '31-35': -2.074, '36+': -2.997},
    'family_history': {'Yes': 0.0, 'No': -0.315},
    'hours_band': {'0-2': 0.0, '3-4': 0.454, '5-6': 0.771, '7-8': 1.095, '9-10': 1.453, '11-12': 1.744},
}
AGE_BANDS = ((20, "18-20"), (23, "21-23"), (26, "24-26"), (30, "27-30"), (35, "31-35"), (float("inf"), "36+"))
HOURS_BANDS = ((2, "0-2"), (4, "3-4"), (6, "5-6"), (8, "7-8"), (10, "9-10"), (float("inf"), "11-12"))


def _band(values: pd.Series, bands: tuple[tuple[float, str], ...]) -> pd.Series:
    edges = [-np.inf] + [upper for upper, _ in bands]
    return pd.cut(values.astype(float), bins=edges, labels=[name for _, name in bands]).astype(object)


def age_band(age: pd.Series) -> pd.Series:
    """Age bands of DATA_CARD's rate table."""
    return _band(age, AGE_BANDS)


def hours_band(hours: pd.Series) -> pd.Series:
    """Work/study hour bands (0-2 ... 11-12)."""
    return _band(hours, HOURS_BANDS)


@dataclass
class SyntheticData:
    """Generated rows in the real CSV's format and the true probability of each."""

    raw: pd.DataFrame
    proba: np.ndarray
    seed: int
    scenario: str

    def canonical(self) -> pd.DataFrame:
        """The rows through the data contract (every generated row is valid)."""
        result = c.validate_frame(self.raw, source="synthetic")
        result.raise_if_rejected("synthetic")
        return result.valid

    def oracle_auc(self) -> float:
        """ROC-AUC of the true probabilities against the drawn labels: the best any model can do."""
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(self.raw["Depression"].astype(int), self.proba))


def _draw(rng: np.random.Generator, weights: dict, n: int, tilt: np.ndarray | None = None) -> np.ndarray:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    if tilt is not None:
        p = p * tilt
    p /= p.sum()
    idx = rng.choice(len(keys), size=n, p=p)
    return np.asarray(keys, dtype=object)[idx]


def _ordinal_tilt(keys: Sequence[float], strength: float) -> np.ndarray:
    """Exponential tilt toward higher levels; strength 1 roughly doubles the top level's weight."""
    z = np.asarray(keys, dtype=float)
    z = (z - z.mean()) / (z.std() or 1.0)
    return np.exp(0.6 * strength * z)


def true_logit(frame: pd.DataFrame) -> np.ndarray:
    """The generating model's logit for canonical rows (missing financial stress: its mean)."""
    columns = {
        **{name: frame[name] for name in EFFECTS if name in frame.columns},
        "age_band": age_band(frame["age"]),
        "hours_band": hours_band(frame["work_study_hours"]),
        "financial_stress": frame["financial_stress"].fillna(round(MEAN_FINANCIAL_STRESS)),
    }
    logit = np.full(len(frame), INTERCEPT, dtype=float)
    for name, table in EFFECTS.items():
        logit += columns[name].map(table).fillna(0.0).astype(float).to_numpy()
    return logit


def true_probability(frame: pd.DataFrame, label_shift: float = 0.0) -> np.ndarray:
    """The true P(depression) of canonical rows under the generating model."""
    return 1.0 / (1.0 + np.exp(-(true_logit(frame) + label_shift)))


def generate(
    n_rows: int,
    seed: int = 42,
    *,
    scenario: Scenario = "none",
    strength: float = 1.0,
    columns: Sequence[str] = (),
    label_shift: float = 0.0,
    id_start: int = 1,
    quirks: bool = True,
) -> SyntheticData:
    """Generate ``n_rows`` survey rows.

    scenario: ``none`` (the reference distribution), ``exam_season`` or ``generic`` (shift the
    canonical ``columns`` by ``strength``: numbers move up by ``strength`` standard deviations,
    categories move that share of rows to their rarest level). ``label_shift`` adds to the logit.
    With ``quirks`` every quirk of the real file appears at its real rate, and at least once
    when ``n_rows >= 50``, so the loader is always exercised.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows: got {n_rows}, expected a positive number of rows")
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: got {scenario!r}, expected one of {', '.join(SCENARIOS)}")
    if scenario == "generic":
        unknown = [col for col in columns if col not in c.FEATURES]
        if not columns or unknown:
            raise ValueError(f"columns: got {list(columns)!r}, expected one or more of {', '.join(c.FEATURES)}")
    if not 0 <= strength <= 5:
        raise ValueError(f"strength: got {strength}, expected a number from 0 to 5")
    rng = np.random.default_rng(seed)
    n = n_rows
    exam = scenario == "exam_season"

    ap_tilt = _ordinal_tilt(list(ACADEMIC_PRESSURE_P), 2.0 * strength) if exam else None
    hours_tilt = _ordinal_tilt(list(HOURS_P), 1.5 * strength) if exam else None
    sleep_tilt = None
    if exam:  # toward short sleep: Less than 5, 5-6, 7-8, More than 8
        sleep_tilt = _ordinal_tilt([3, 1, 2, 0], 2.0 * strength)

    f = pd.DataFrame(index=pd.RangeIndex(n))
    f["id"] = np.arange(id_start, id_start + n)
    f["gender"] = _draw(rng, GENDER_P, n)
    f["age"] = _draw(rng, AGE_P, n).astype(float)
    f["city"] = _draw(rng, CITY_P, n)
    f["profession"] = c.DEFAULT_PROFESSION
    f["academic_pressure"] = _draw(rng, ACADEMIC_PRESSURE_P, n, ap_tilt).astype(float)
    f["work_pressure"] = 0.0
    f["cgpa"] = np.round(5.0 + 5.0 * rng.beta(1.15, 1.0, n), 2)
    f["study_satisfaction"] = _draw(rng, STUDY_SATISFACTION_P, n).astype(float)
    f["job_satisfaction"] = 0.0
    f["sleep_duration"] = _draw(rng, SLEEP_P, n, sleep_tilt)
    f["dietary_habits"] = _draw(rng, DIET_P, n)
    class12_p = np.select([f["age"] <= 20, f["age"] == 21], [0.95, 0.2], 0.03)
    f["degree"] = np.where(rng.random(n) < class12_p, "Class 12", _draw(rng, DEGREE_P, n))
    f["suicidal_thoughts"] = _draw(rng, SUICIDAL_P, n)
    f["work_study_hours"] = _draw(rng, HOURS_P, n, hours_tilt).astype(float)
    f["financial_stress"] = _draw(rng, FINANCIAL_STRESS_P, n).astype(float)
    f["family_history"] = _draw(rng, FAMILY_P, n)

    if scenario == "generic" and strength > 0:
        _shift_columns(f, columns, strength, rng)

    hidden_fs = f["financial_stress"].copy()
    if quirks:
        _inject_quirks(f, rng)
    visible_fs = f["financial_stress"]
    f["financial_stress"] = hidden_fs  # the label depends on the true value, blanked or not
    proba = true_probability(f, label_shift)
    f["financial_stress"] = visible_fs
    f[c.TARGET] = (rng.random(n) < proba).astype(int)

    raw = c.to_raw(f)
    if quirks and n >= 50 and f["financial_stress"].isna().sum() >= 2:
        # Some copies of the real file leave the missing value empty rather than '?'.
        first_missing = f.index[f["financial_stress"].isna()][0]
        raw.loc[first_missing, "Financial Stress"] = ""
    return SyntheticData(raw=raw, proba=proba, seed=seed, scenario=scenario)


def _shift_columns(f: pd.DataFrame, columns: Sequence[str], strength: float, rng: np.random.Generator) -> None:
    for name in columns:
        spec = c.FIELD_BY_NAME[name]
        if spec.kind == "number":
            values = f[name].astype(float)
            shifted = values + strength * float(values.std() or 1.0)
            if spec.integer:
                shifted = shifted.round()
            hi = {"age": 59.0, "work_study_hours": 12.0}.get(name, spec.maximum)
            f[name] = shifted.clip(spec.minimum, hi)
        else:
            rarest = f[name].value_counts().index[-1]
            move = rng.random(len(f)) < min(strength, 1.0) * 0.5
            f.loc[move, name] = rarest


def _inject_quirks(f: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(f)
    minimum = 1 if n >= 50 else 0

    def rows(rate: float) -> np.ndarray:
        k = max(minimum, int(rng.binomial(n, rate)))
        return rng.choice(n, size=min(k, n), replace=False)

    f.loc[rows(QUIRK_RATES["junk_city"]), "city"] = rng.choice(JUNK_CITIES)
    idx = rows(QUIRK_RATES["other_profession"])
    f.loc[idx, "profession"] = rng.choice(OTHER_PROFESSIONS, size=len(idx))
    if minimum and "Digital Marketer" not in set(f["profession"]):
        f.loc[idx[:1], "profession"] = "Digital Marketer"  # a quoted multi-word value
    f.loc[rows(QUIRK_RATES["sleep_others"]), "sleep_duration"] = "Others"
    f.loc[rows(QUIRK_RATES["diet_others"]), "dietary_habits"] = "Others"
    idx = rows(QUIRK_RATES["non_student_zeros"])
    f.loc[idx, ["academic_pressure", "cgpa", "study_satisfaction"]] = 0.0
    idx = rows(QUIRK_RATES["missing_financial_stress"])
    if minimum:
        idx = np.union1d(idx, rng.choice(n, size=2, replace=False))
    f.loc[idx, "financial_stress"] = np.nan
    idx = rows(QUIRK_RATES["work_pressure"])
    f.loc[idx, "work_pressure"] = rng.choice([2.0, 5.0], size=len(idx))
    idx = rows(QUIRK_RATES["job_satisfaction"])
    f.loc[idx, "job_satisfaction"] = rng.integers(1, 5, size=len(idx)).astype(float)
    # The junk cities of the real file include values such as '3.0'.
    f["city"] = f["city"].astype(object)


def school_shift(frame: pd.DataFrame, *, seed: int = 0, label_noise: bool = True) -> pd.DataFrame:
    """A cohort under pressure: Academic Pressure +2, half of Sleep Duration moved to "Less than 5 hours",
    Financial Stress +1 (each capped at the scale's top, 5), on a canonical ``frame``.

    The answers change and, with ``label_noise``, the outcomes are drawn again from the
    generator's true probability of the changed answers (covariate shift: the link from answers
    to risk stays), so the cohort is what a school would see after such a change.
    """
    out = frame.copy()
    rng = np.random.default_rng(seed)
    out["academic_pressure"] = (out["academic_pressure"].astype(float) + 2).clip(upper=5)
    out["financial_stress"] = (out["financial_stress"].astype(float) + 1).clip(upper=5)
    moved = rng.random(len(out)) < 0.5
    out.loc[moved, "sleep_duration"] = "Less than 5 hours"
    if label_noise and "depression" in out.columns:
        drawn = (rng.random(len(out)) < true_probability(out)).astype(int)
        out["depression"] = pd.array(drawn, dtype=out["depression"].dtype if str(out["depression"].dtype) == "Int64" else "Int64")
    return out
