"""The promotion gate as a pure function of two score sets: recent data counts, and no ratchet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mindpulse.gate import FIXED, RECENT, SliceScores, in_words, judge, paired_auc_interval, roc_auc


def _labels(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < 0.4).astype(int)


def _scores(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Probabilities whose ranking quality falls as ``noise`` grows."""
    rng = np.random.default_rng(seed)
    return 1 / (1 + np.exp(-(2.0 * (y - 0.5) + noise * rng.standard_normal(len(y)))))


def test_auc_from_ranks_matches_sklearn_with_ties() -> None:
    y = _labels(500, 1)
    p = np.round(_scores(y, 1.5, 2), 2)  # rounding makes ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    # The bootstrap's weighted AUC, with one resample of weight 1 everywhere, is the same AUC.
    from mindpulse.gate import _weighted_auc

    pos, neg = y == 1, y == 0
    one = _weighted_auc(p, pos, neg, np.ones((1, pos.sum())), np.ones((1, neg.sum())))
    assert one[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_a_challenger_equal_on_the_old_holdout_but_worse_on_recent_data_is_refused() -> None:
    y_fixed, y_recent = _labels(5000, 3), _labels(300, 4)
    fixed = _scores(y_fixed, 1.0, 5)
    champion = {FIXED: SliceScores(y_fixed, fixed), RECENT: SliceScores(y_recent, _scores(y_recent, 1.0, 6))}
    challenger = {FIXED: SliceScores(y_fixed, fixed), RECENT: SliceScores(y_recent, _scores(y_recent, 3.0, 7))}
    verdict = judge(champion, challenger, margin=0.005)
    assert not verdict.promoted
    recent = verdict.comparison(RECENT)
    assert recent.judged and not recent.passed and recent.interval[1] < -0.005
    assert verdict.comparison(FIXED).passed and verdict.comparison(FIXED).difference == 0
    assert "recent ROC-AUC" in verdict.reason and "wholly below -margin" in verdict.reason
    # The same challenger, judged on the old holdout alone, would have passed: the recent slice decided.
    assert judge({FIXED: champion[FIXED]}, {FIXED: challenger[FIXED]}, margin=0.005).promoted


def test_ten_slightly_worse_challengers_cannot_lose_more_than_the_margin_in_total() -> None:
    margin = 0.005
    y = _labels(5000, 8)
    rng = np.random.default_rng(9)
    champion_p = _scores(y, 1.0, 10)
    first_auc = best = roc_auc(y, champion_p)
    promotions = 0
    for _ in range(10):
        # A challenger a little worse than the champion: its scores plus a little noise that costs AUC.
        while True:
            challenger_p = champion_p + 0.02 * rng.standard_normal(len(y))
            auc = roc_auc(y, challenger_p)
            if auc < roc_auc(y, champion_p):
                break
        assert -margin < auc - roc_auc(y, champion_p) < 0  # each one alone is within the margin
        verdict = judge({FIXED: SliceScores(y, champion_p)}, {FIXED: SliceScores(y, challenger_p)},
                        margin=margin, best_promoted_auc=best)
        if verdict.promoted:
            promotions += 1
            champion_p, best = challenger_p, max(best, auc)
        else:
            assert "best promoted model's" in verdict.reason
    assert promotions >= 1  # the chain did move ...
    assert roc_auc(y, champion_p) >= first_auc - margin  # ... but lost at most the margin in total


def test_the_interval_narrows_with_more_rows_and_is_recorded_in_words() -> None:
    widths = []
    for n in (200, 5000):
        y = _labels(n, 11)
        low, high = paired_auc_interval(y, _scores(y, 1.2, 12), _scores(y, 1.0, 13))
        assert low < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
    y = _labels(400, 14)
    verdict = judge({FIXED: SliceScores(y, _scores(y, 1, 15))}, {FIXED: SliceScores(y, _scores(y, 1, 16))}, margin=0.005)
    data = verdict.to_dict()
    item = data["comparisons"][0]
    assert item["slice"] == FIXED and len(item["interval"]) == 2
    assert f"{item['challenger_auc']:.4f}" in verdict.reason and f"{item['champion_auc']:.4f}" in verdict.reason


def test_a_slice_too_small_is_reported_not_judged_and_labels_must_match() -> None:
    y_fixed, y_small = _labels(2000, 17), np.array([0, 1] * 10)
    p = _scores(y_fixed, 1, 18)
    verdict = judge({FIXED: SliceScores(y_fixed, p), RECENT: SliceScores(y_small, _scores(y_small, 1, 19))},
                    {FIXED: SliceScores(y_fixed, p), RECENT: SliceScores(y_small, _scores(y_small, 5, 20))}, margin=0.005)
    assert verdict.promoted and not verdict.comparison(RECENT).judged
    assert "too few to compare" in verdict.comparison(RECENT).words
    with pytest.raises(ValueError, match="same rows"):
        judge({FIXED: SliceScores(1 - y_fixed, p)}, {FIXED: SliceScores(y_fixed, p)}, margin=0.005)


def test_the_first_model_needs_no_champion() -> None:
    y = _labels(300, 21)
    verdict = judge(None, {FIXED: SliceScores(y, _scores(y, 1, 22))}, margin=0.005)
    assert verdict.promoted and verdict.reason.startswith("first model")


# --- every group is protected --------------------------------------------------------------------

def _groups(n: int, attribute: str, values: dict[str, int]) -> pd.DataFrame:
    """Group labels for ``n`` rows: the first rows in the first group, and so on (``values``: group -> rows)."""
    assert sum(values.values()) == n
    return pd.DataFrame({attribute: np.repeat(list(values), list(values.values()))})


def _worse_in(p: np.ndarray, rows: slice, share: float, seed: int) -> np.ndarray:
    """``p`` with the scores of a ``share`` of ``rows`` shuffled among themselves: the ranking within
    those rows gets worse, the scores keep their distribution, the other rows are untouched."""
    out = p.copy()
    rng = np.random.default_rng(seed)
    positions = np.arange(len(p))[rows]
    picked = positions[rng.random(len(positions)) < share]
    out[picked] = rng.permutation(out[picked])
    return out


def test_a_challenger_better_on_the_whole_but_worse_for_one_group_is_refused_naming_the_group() -> None:
    n = 4000
    y = _labels(n, 21)
    champion_p = _scores(y, 1.0, 22)
    # Better for 3,600 rows (less noise), worse for the 400 rows of age band 31-35 (by about 0.08).
    challenger_p = _worse_in(_scores(y, 0.7, 22), slice(3600, n), 0.3, 23)
    groups = _groups(n, "age_band", {"21-23": 3600, "31-35": 400})
    champion, challenger = {FIXED: SliceScores(y, champion_p)}, {FIXED: SliceScores(y, challenger_p)}

    assert judge(champion, challenger, margin=0.005).promoted  # the whole-population rule passes it
    verdict = judge(champion, challenger, margin=0.005, groups=groups, group_min_size=200, group_margin=0.02)
    assert not verdict.promoted and verdict.comparison(FIXED).passed
    record = verdict.to_dict()
    by_name = {g["group"]: g for g in record["groups"]}
    hit = by_name["31-35"]
    assert set(hit) == {"attribute", "group", "n", "positives", "judged", "champion", "challenger", "difference",
                        "interval", "refused"}
    assert hit["attribute"] == "age_band" and hit["n"] == 400 and hit["positives"] == int(y[3600:].sum())
    assert hit["judged"] and hit["refused"] and hit["interval"][1] < -0.02
    assert hit["difference"] == pytest.approx(roc_auc(y[3600:], challenger_p[3600:]) - roc_auc(y[3600:], champion_p[3600:]))
    assert by_name["21-23"]["judged"] and not by_name["21-23"]["refused"] and by_name["21-23"]["difference"] > 0
    assert record["largest_gap"] == hit
    words = in_words(verdict.promoted, verdict.reason)
    assert words.startswith("refused: group age_band=31-35 (400 rows, ")
    low, high = hit["interval"]
    assert (f"difference {hit['difference']:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}] lies wholly below "
            "-group margin -0.0200") in words


def test_a_group_too_small_is_reported_not_judged_and_a_fair_challenger_passes_every_group() -> None:
    n = 3000
    y = _labels(n, 31)
    champion_p = _scores(y, 1.0, 32)
    # Far worse for a group of 150 rows: too small to judge, so it is reported, not judged.
    challenger_p = _worse_in(champion_p, slice(2850, n), 0.5, 34)
    groups = pd.concat([_groups(n, "gender", {"Female": 1400, "Male": 1600}),
                        _groups(n, "age_band", {"18-20": 2850, "36+": 150})], axis=1)
    verdict = judge({FIXED: SliceScores(y, champion_p)}, {FIXED: SliceScores(y, challenger_p)}, margin=0.05,
                    groups=groups, group_min_size=200, group_margin=0.02)
    assert verdict.promoted, verdict.reason
    record = {(g["attribute"], g["group"]): g for g in verdict.to_dict()["groups"]}
    small = record[("age_band", "36+")]
    assert small["n"] == 150 and not small["judged"] and not small["refused"] and small["interval"] is None
    assert small["difference"] is None and small["challenger"] < small["champion"]  # both shown, not judged
    assert "group age_band=36+: 150 rows" in verdict.reason and "too small to judge (at least 200 rows" in verdict.reason
    assert all(g["judged"] and not g["refused"] for key, g in record.items() if key != ("age_band", "36+"))
    assert "every one of the 3 groups judged reaches -group margin -0.0200" in verdict.reason
    gap = verdict.to_dict()["largest_gap"]
    assert gap is None or (gap["judged"] and gap["difference"] == min(g["difference"] for g in record.values() if g["judged"]))


def test_groups_need_one_label_per_fixed_holdout_row_and_the_first_model_compares_no_group() -> None:
    y = _labels(300, 41)
    scores = {FIXED: SliceScores(y, _scores(y, 1.0, 42))}
    with pytest.raises(ValueError, match=r"groups: got 299 rows of group labels, expected one per fixed-holdout row \(300\)"):
        judge(scores, scores, margin=0.005, groups=_groups(299, "gender", {"Female": 299}))
    first = judge(None, scores, margin=0.005, groups=_groups(300, "gender", {"Female": 300}))
    assert first.promoted and first.to_dict()["groups"] == [] and first.to_dict()["largest_gap"] is None
