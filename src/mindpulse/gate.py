"""The promotion gate: a pure function of the champion's and the challenger's scores.

Both models are scored on the same labelled rows, in named slices: the fixed holdout (drawn
once, never trained on) and, when there is one, the recent slice (rows held out of the
production snapshots, see :mod:`mindpulse.holdout`). The rule, in words (``RULE``):

1. On every slice, the challenger is refused when its ROC-AUC is shown to be lower than the
   champion's by more than the margin: the upper end of the 95 % interval of (challenger -
   champion) lies below -margin. The interval comes from a paired, stratified bootstrap (the
   same resampled rows score both models; positives and negatives are resampled separately,
   as pROC does), so a small recent slice refuses only on clear evidence and a large one on
   small differences.
2. On the fixed holdout, the challenger's ROC-AUC must also be at least the best ROC-AUC any
   promoted model ever had there, minus the margin. Each promotion is then within the margin
   of the best, so a chain of promotions cannot lose more than the margin in total.
3. Every group (gender, age band, and the columns the settings name: :mod:`mindpulse.groups`)
   is protected too: on the fixed-holdout rows of one group, the challenger is refused when the
   95 % paired-bootstrap interval of its ROC-AUC minus the champion's lies wholly below
   -group margin. So a challenger that is better on average cannot be much worse for one group.

Slices with fewer than ``MIN_SLICE_ROWS`` rows or ``MIN_CLASS_ROWS`` of either label are
reported but not judged; so are groups with fewer than the group minimum size of rows or
``MIN_CLASS_ROWS`` of either outcome ("too small to judge"). No file, clock or registry is
touched here: the same scores give the same verdict (the bootstrap is seeded).

Why ROC-AUC per group, not recall at the threshold: the screening's threshold is chosen per
model (maximum F1 out of fold), so a recall difference mixes how well a model ranks the group's
students with where each model put its threshold; a recalibrated challenger can move recall
for every group while ranking them no worse. ROC-AUC judges the ranking alone, on all the
group's rows (recall uses its positives only, about half as many, so its interval is wider),
it does not depend on the group's depression rate (0.72 at 18-20 against 0.28 at 36+, so
groups with different rates are held to the same standard), and it is the whole-population
rule's own measure, with the same paired bootstrap. The model card describes each group at
the threshold.
(fairlearn's ``MetricFrame`` would give each group's point ROC-AUC, not the paired interval of
the difference the rule rests on, so the rule computes its figures itself.)

Why 200 rows and a margin of 0.02 by default: the interval of a group's AUC difference is
wide (on 257 rows of one age band, the interval of a challenger 0.10 worse there spanned
[-0.16, -0.03]), so in a group much smaller than 200 rows only a very large loss could be
shown, and the figures would mostly be noise; and about eight groups are judged at once,
each on a small part of the holdout, so a group gets a wider margin than the whole
population's 0.005, lest chance alone refuse good challengers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mindpulse.groups import iter_groups

if TYPE_CHECKING:
    import pandas as pd

FIXED = "fixed_holdout"
RECENT = "recent"
CONFIDENCE = 0.95
RESAMPLES = 1000
MIN_SLICE_ROWS = 50
MIN_CLASS_ROWS = 5
#: The defaults of the settings GROUP_MIN_SIZE and GROUP_MARGIN (see the module's docstring).
GROUP_MIN_SIZE = 200
GROUP_MARGIN = 0.02
RULE = ("promoted unless, on the fixed holdout or the recent production slice, the 95 % paired-bootstrap "
        "interval of its ROC-AUC minus the champion's lies wholly below -margin, or its fixed-holdout "
        "ROC-AUC is below the best promoted model's minus the margin, or, for any group (gender, age band, "
        "named columns) large enough to judge, that interval on the group's fixed-holdout rows lies wholly "
        "below -group margin")


def in_words(promoted: bool, reason: str) -> str:
    """The verdict and its reason as one phrase, the verdict said once ("refused: ..."), although a
    recorded reason usually begins with its own verdict word."""
    verdict = "promoted to champion" if promoted else "refused"
    text = (reason or "").strip()
    for word in ("promoted: ", "refused: "):
        if text.startswith(word):
            text = text[len(word):]
    return f"{verdict}: {text}" if text else verdict


@dataclass(frozen=True)
class SliceScores:
    """Labels and one model's probabilities on one slice of rows."""

    y: np.ndarray
    p: np.ndarray

    def __post_init__(self) -> None:
        y, p = np.asarray(self.y, dtype=int), np.asarray(self.p, dtype=float)
        if y.shape != p.shape or y.ndim != 1:
            raise ValueError(f"scores: got {y.shape} labels and {p.shape} probabilities, expected two equal 1-d arrays")
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "p", p)


ScoreSet = Mapping[str, SliceScores]


@dataclass(frozen=True)
class SliceComparison:
    """Champion and challenger on one slice: both ROC-AUCs, the difference and its interval."""

    slice: str
    rows: int
    positives: int
    challenger_auc: float | None
    champion_auc: float | None
    difference: float | None
    interval: tuple[float, float] | None
    judged: bool
    passed: bool
    words: str


@dataclass(frozen=True)
class GroupComparison:
    """Champion and challenger on one group's fixed-holdout rows (``judged`` False: too small to judge)."""

    attribute: str
    group: str
    n: int
    positives: int
    judged: bool
    champion: float | None
    challenger: float | None
    difference: float | None
    interval: tuple[float, float] | None
    refused: bool
    words: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return f"{self.attribute}={self.group}"

    def to_dict(self) -> dict[str, Any]:
        """The record the version metadata and the model card keep (the words are in the reason)."""
        return {"attribute": self.attribute, "group": self.group, "n": self.n, "positives": self.positives,
                "judged": self.judged, "champion": self.champion, "challenger": self.challenger,
                "difference": self.difference,
                "interval": list(self.interval) if self.interval is not None else None, "refused": self.refused}


@dataclass(frozen=True)
class Verdict:
    """The gate's decision, the comparisons it rests on, and the rule in words."""

    promoted: bool
    reason: str
    comparisons: list[SliceComparison] = field(default_factory=list)
    best_promoted_auc: float | None = None
    floor: float | None = None
    margin: float = 0.0
    confidence: float = CONFIDENCE
    rule: str = RULE
    groups: list[GroupComparison] = field(default_factory=list)
    group_margin: float | None = None
    group_min_size: int | None = None

    def comparison(self, name: str) -> SliceComparison | None:
        return next((c for c in self.comparisons if c.slice == name), None)

    @property
    def largest_gap(self) -> GroupComparison | None:
        """The judged group where the challenger loses most against the champion (None: it loses in none)."""
        losing = [g for g in self.groups if g.judged and g.difference is not None and g.difference < 0]
        return min(losing, key=lambda g: g.difference) if losing else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for item in out["comparisons"]:
            item["interval"] = list(item["interval"]) if item["interval"] is not None else None
        out["groups"] = [g.to_dict() for g in self.groups]
        out["largest_gap"] = self.largest_gap.to_dict() if self.largest_gap is not None else None
        return out


def roc_auc(y: np.ndarray, p: np.ndarray) -> np.ndarray | float:
    """ROC-AUC from ranks (ties count half); ``p`` may hold one row of probabilities per resample."""
    # Imported here: scipy.stats takes ~0.9 s to import, and every command that reads the registry
    # (`mindpulse models`, `predict`, `rollback`, the dashboard) imports this module without gating.
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    ranks = rankdata(p, axis=-1)
    n_pos = y.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    rank_sum = np.where(y, ranks, 0.0).sum(axis=-1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def paired_auc_interval(y: np.ndarray, p_challenger: np.ndarray, p_champion: np.ndarray, *,
                        confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile interval of AUC(challenger) - AUC(champion) over stratified paired resamples.

    Each resample draws positives and negatives with replacement (counts kept), and the same
    draw scores both models. A resample is a weight per row, so its AUC is computed from one
    sort per model: O(resamples x rows), no sort per resample.
    """
    y = np.asarray(y, dtype=int)
    positives, negatives = y == 1, y == 0
    n_pos, n_neg = int(positives.sum()), int(negatives.sum())
    rng = np.random.default_rng(seed)
    w_pos, w_neg = _draw_weights(rng, n_pos, resamples), _draw_weights(rng, n_neg, resamples)
    differences = (_weighted_auc(np.asarray(p_challenger, dtype=float), positives, negatives, w_pos, w_neg)
                   - _weighted_auc(np.asarray(p_champion, dtype=float), positives, negatives, w_pos, w_neg))
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def _draw_weights(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """How many times each of ``n`` rows is drawn, per resample of ``n`` draws with replacement."""
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def _weighted_auc(p: np.ndarray, positives: np.ndarray, negatives: np.ndarray, w_pos: np.ndarray,
                  w_neg: np.ndarray) -> np.ndarray:
    """AUC per resample, for row weights ``w_pos`` (resamples x positives) and ``w_neg``."""
    order = np.argsort(p[negatives], kind="stable")
    sorted_neg = p[negatives][order]
    cumulative = np.hstack([np.zeros((len(w_neg), 1)), np.cumsum(w_neg[:, order], axis=1)])
    below = np.searchsorted(sorted_neg, p[positives], side="left")
    at_or_below = np.searchsorted(sorted_neg, p[positives], side="right")
    score = 0.5 * (cumulative[:, below] + cumulative[:, at_or_below])  # ties count half
    return (w_pos * score).sum(axis=1) / (positives.sum() * negatives.sum())


def judge(champion: ScoreSet | None, challenger: ScoreSet, *, margin: float, best_promoted_auc: float | None = None,
          groups: "pd.DataFrame | None" = None, group_min_size: int = GROUP_MIN_SIZE,
          group_margin: float = GROUP_MARGIN, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
          seed: int = 0) -> Verdict:
    """The verdict on ``challenger`` against ``champion`` (None: there is no champion yet).

    ``groups``: each fixed-holdout row's group per attribute (:func:`mindpulse.groups.group_labels`,
    rows in the order of the fixed-holdout scores); None judges no group.
    """
    if margin < 0:
        raise ValueError(f"margin: got {margin}, expected 0 or more")
    if group_margin < 0:
        raise ValueError(f"group_margin: got {group_margin}, expected 0 or more")
    if group_min_size < 1:
        raise ValueError(f"group_min_size: got {group_min_size}, expected 1 or more rows")
    if FIXED not in challenger:
        raise ValueError(f"scores: no {FIXED!r} slice; the challenger must be scored on the fixed holdout")
    if groups is not None and len(groups) != len(challenger[FIXED].y):
        raise ValueError(f"groups: got {len(groups)} rows of group labels, expected one per fixed-holdout row "
                         f"({len(challenger[FIXED].y)})")
    fixed_auc = _auc_or_none(challenger[FIXED])
    if champion is None:
        return Verdict(True, "first model: no champion yet, so it becomes champion without a gate",
                       best_promoted_auc=best_promoted_auc, margin=margin, confidence=confidence)
    comparisons = [_compare(name, champion.get(name), scores, margin=margin, confidence=confidence,
                            resamples=resamples, seed=seed)
                   for name, scores in challenger.items()]
    by_group = [] if groups is None or champion.get(FIXED) is None else _compare_groups(
        groups, champion[FIXED], challenger[FIXED], min_size=group_min_size, margin=group_margin,
        confidence=confidence, resamples=resamples, seed=seed)
    failures = [c.words for c in comparisons if c.judged and not c.passed]
    floor = None
    if best_promoted_auc is not None and fixed_auc is not None:
        floor = best_promoted_auc - margin
        if fixed_auc < floor:
            failures.append(f"fixed-holdout ROC-AUC {fixed_auc:.4f} is below the best promoted model's "
                            f"{best_promoted_auc:.4f} - margin {margin:g} = {floor:.4f}")
    failures += [g.words for g in by_group if g.refused]
    judged = [c for c in comparisons if c.judged]
    if failures:
        reason = "refused: " + "; ".join(failures)
    elif not judged:
        failures.append("no slice has enough rows of both labels to compare the models")
        reason = "refused: " + failures[0]
    else:
        reason = "promoted: " + "; ".join(c.words for c in judged)
        if floor is not None:
            reason += (f"; fixed-holdout ROC-AUC {fixed_auc:.4f} >= best promoted {best_promoted_auc:.4f} "
                       f"- margin {margin:g} = {floor:.4f}")
        reason += _groups_passed(by_group, group_margin)
    small = [g.words for g in by_group if not g.judged]
    if small:
        reason += "; " + "; ".join(small)
    return Verdict(not failures, reason, comparisons, best_promoted_auc, floor, margin, confidence,
                   groups=by_group, group_margin=group_margin if groups is not None else None,
                   group_min_size=group_min_size if groups is not None else None)


def _compare_groups(labels: "pd.DataFrame", champion: SliceScores, challenger: SliceScores, *, min_size: int,
                    margin: float, confidence: float, resamples: int, seed: int) -> list[GroupComparison]:
    """Champion and challenger on each group's rows of the fixed holdout: the same paired bootstrap."""
    if not np.array_equal(champion.y, challenger.y):
        raise ValueError(f"scores: the {FIXED!r} slice has different labels for champion and challenger; "
                         "both must be scored on the same rows")
    out = []
    for group in iter_groups(labels.reset_index(drop=True)):
        rows = group.rows
        y = challenger.y[rows]
        n, positives = len(y), int(y.sum())
        both = len(np.unique(y)) == 2
        old = float(roc_auc(y, champion.p[rows])) if both else None
        new = float(roc_auc(y, challenger.p[rows])) if both else None
        if n < min_size or min(positives, n - positives) < MIN_CLASS_ROWS:
            out.append(GroupComparison(group.attribute, group.value, n, positives, False, old, new, None, None, False,
                                       f"group {group.name}: {n} rows ({positives} positive), too small to judge "
                                       f"(at least {min_size} rows and {MIN_CLASS_ROWS} of each outcome)"))
            continue
        low, high = paired_auc_interval(y, challenger.p[rows], champion.p[rows], confidence=confidence,
                                        resamples=resamples, seed=seed)
        refused = high < -margin
        words = (f"group {group.name} ({n} rows, {positives} positive): ROC-AUC {new:.4f} vs champion {old:.4f}, "
                 f"difference {new - old:+.4f}, {confidence:.0%} interval [{low:+.4f}, {high:+.4f}] "
                 + (f"lies wholly below -group margin {-margin:+.4f}" if refused
                    else f"reaches -group margin {-margin:+.4f}"))
        out.append(GroupComparison(group.attribute, group.value, n, positives, True, old, new, new - old, (low, high),
                                   refused, words))
    return out


def _groups_passed(groups: list[GroupComparison], margin: float) -> str:
    """The groups' part of a promotion's reason: how many were judged, and the largest loss among them."""
    judged = [g for g in groups if g.judged]
    if not judged:
        return ""
    losing = [g for g in judged if g.difference < 0]
    text = f"; every one of the {len(judged)} groups judged reaches -group margin {-margin:+.4f}"
    if losing:
        worst = min(losing, key=lambda g: g.difference)
        text += (f" (largest gap: {worst.name}, difference {worst.difference:+.4f}, interval "
                 f"[{worst.interval[0]:+.4f}, {worst.interval[1]:+.4f}])")
    return text


def _auc_or_none(scores: SliceScores) -> float | None:
    return float(roc_auc(scores.y, scores.p)) if len(np.unique(scores.y)) == 2 else None


def _judgeable(y: np.ndarray) -> bool:
    positives = int(y.sum())
    return len(y) >= MIN_SLICE_ROWS and min(positives, len(y) - positives) >= MIN_CLASS_ROWS


def _compare(name: str, champion: SliceScores | None, challenger: SliceScores, *, margin: float,
             confidence: float, resamples: int, seed: int) -> SliceComparison:
    label = name.replace("_", " ")
    rows, positives = len(challenger.y), int(challenger.y.sum())
    new_auc = _auc_or_none(challenger)
    if champion is None:
        return SliceComparison(name, rows, positives, new_auc, None, None, None, False, True,
                               f"{label}: the champion was not scored on it, so it is not compared")
    if not np.array_equal(champion.y, challenger.y):
        raise ValueError(f"scores: the {name!r} slice has different labels for champion and challenger; "
                         "both must be scored on the same rows")
    old_auc = _auc_or_none(champion)
    if not _judgeable(challenger.y) or new_auc is None or old_auc is None:
        return SliceComparison(name, rows, positives, new_auc, old_auc, None, None, False, True,
                               f"{label}: {rows} rows ({positives} positive) are too few to compare "
                               f"(at least {MIN_SLICE_ROWS} rows and {MIN_CLASS_ROWS} of each label)")
    difference = new_auc - old_auc
    low, high = paired_auc_interval(challenger.y, challenger.p, champion.p, confidence=confidence,
                                    resamples=resamples, seed=seed)
    passed = high >= -margin
    shown = (f"{label} ROC-AUC {new_auc:.4f} vs champion {old_auc:.4f} on {rows} rows, difference "
             f"{difference:+.4f}, {confidence:.0%} interval [{low:+.4f}, {high:+.4f}]")
    words = (f"{shown} reaches -margin {-margin:+.4f}" if passed
             else f"{shown} lies wholly below -margin {-margin:+.4f}")
    return SliceComparison(name, rows, positives, new_auc, old_auc, difference, (low, high), True, passed, words)
