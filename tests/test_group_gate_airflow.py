"""The per-group gate in a real Airflow 3 run: a challenger better on the whole population but
worse for one group is refused, the verdict names the group, and the champion stays.

The home: 8,000 reference rows (so the fixed holdout has 1,600 rows and every age band but 36+
has 250 or more: enough to judge, ``GROUP_MIN_SIZE`` 200); a champion trained on 60 of them (a
logistic regression: fair, ROC-AUC ~0.86, with room for a model trained on more data to beat it
on the whole); and 12,500 labelled production rows in which every label of age band 21-23 is
flipped. The retrain (``airflow dags test``, forced, XGBoost, seed 7) trains on reference +
production minus the recent slice: for 21-23 it has more flipped rows (~1,600) than clean ones
(~1,000), so the trees learn that band's relation upside down, while every other band gains
from 10,000 more good rows.

Why these sizes (measured with these seeds, the same code path in-process): the whole
population gains about +0.02 (0.880 against 0.861, above the best promoted ROC-AUC minus the
margin), and band 21-23 loses about 0.19 (interval about [-0.27, -0.12], far below -0.02), so
neither rule is near its edge. The loss in the band flips from small to large as the flipped
rows outnumber the clean ones: flipping 80 % of the band's rows cost it only 0.015, 90 % cost
0.06 with an interval reaching -0.01. And the band's loss costs the whole population about
0.025, so a champion trained on 150 rows (0.888) was no longer beaten on the whole: the
champion's 60 rows are what let the whole-population rule pass while only the group rule refuses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shared_support import migrated

import airflow_support as af
from mindpulse import runs
from mindpulse.dag_ids import RETRAIN_DAG_ID
from mindpulse.groups import group_labels
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DEGRADED_BAND = "21-23"


def _home(tmp_path: Path) -> tuple[Settings, str]:
    """Reference data, the fixed holdout drawn from all of it, a champion trained on 60 rows, and the
    degraded production rows in the store; returns the settings and the champion's version."""
    from mindpulse.data import generate_reference, load_reference
    from mindpulse.store import Store
    from mindpulse.synthetic import generate
    from mindpulse.train import train_register_and_judge

    settings = migrated(Settings(home=tmp_path / "home"))  # the deploy step
    generate_reference(settings, rows=8_000, seed=7)
    registry = ModelRegistry.from_settings(settings)
    reference = load_reference(settings)
    registry.ensure_holdout(reference, seed=7)  # drawn from all 8,000 rows, not from the champion's 60
    few = registry.exclude_holdout(reference).sample(60, random_state=1).reset_index(drop=True)
    champion = train_register_and_judge(few, registry, seed=7, margin=settings.promotion_margin, folds=3,
                                        data_source="60 reference rows (a champion with room to improve)",
                                        candidates=["logistic_regression"])
    assert champion.promoted

    production = generate(12_500, seed=21, id_start=5_000_000).canonical()
    degraded = (group_labels(production)["age_band"] == DEGRADED_BAND).to_numpy()
    production.loc[degraded, "depression"] = 1 - production.loc[degraded, "depression"].astype(int)
    with Store.from_settings(settings) as store:
        store.add_labelled(production)
    return settings, champion.version


def test_a_challenger_worse_for_one_age_band_is_refused_by_the_group_rule_alone(
        migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    settings, champion = _home(tmp_path)
    airflow_home = tmp_path / "airflow"
    airflow_home.mkdir()
    shutil.copy(migrated_airflow, airflow_home / "airflow.db")
    env = af.airflow_env(airflow_home)
    for name in [k for k in env if k.startswith("MINDPULSE_")]:
        del env[name]
    env.update({"MINDPULSE_HOME": str(settings.home), "MINDPULSE_PIPELINE_RETRIES": "0", **kernel_zygote})

    result = af.dags_test(env, RETRAIN_DAG_ID, {"force": True, "candidates": ["xgboost"], "seed": 7})
    state, tasks = af.last_run_states(env, RETRAIN_DAG_ID)
    assert tasks["train_and_gate"] == "success", (result.stdout + result.stderr)[-4000:]

    registry = ModelRegistry.from_settings(settings)
    assert registry.champion().version == champion  # unchanged
    challenger = next(v for v in registry.versions() if v.version != champion)
    assert challenger.status == "refused"
    gate = challenger.metadata["gate"]
    # The whole-population rule passes it: every slice within the margin, and above the floor.
    assert gate["comparisons"] and all(c["judged"] and c["passed"] for c in gate["comparisons"])
    assert gate["challenger_auc"] > gate["champion_auc"] and gate["challenger_auc"] >= gate["floor"]
    # The group rule refuses it, for that band alone.
    refused = [g for g in gate["groups"] if g["refused"]]
    assert [(g["attribute"], g["group"]) for g in refused] == [("age_band", DEGRADED_BAND)]
    band = refused[0]
    assert band["judged"] and band["n"] >= 200 and band["interval"][1] < -gate["group_margin"] == -0.02
    assert gate["largest_gap"] == band
    small = [g for g in gate["groups"] if not g["judged"]]
    assert all(g["n"] < 200 or min(g["positives"], g["n"] - g["positives"]) < 5 for g in small)
    low, high = band["interval"]
    named = (f"group age_band={DEGRADED_BAND} ({band['n']} rows, {band['positives']} positive): ROC-AUC "
             f"{band['challenger']:.4f} vs champion {band['champion']:.4f}, difference {band['difference']:+.4f}, "
             f"95% interval [{low:+.4f}, {high:+.4f}] lies wholly below -group margin -0.0200")
    assert gate["reason"].startswith(f"refused: {named}")

    # The run summary names the group, and so does its text (what the notification says).
    folder = next((settings.reports_dir / RETRAIN_DAG_ID).iterdir())
    summary = runs.read_summary(folder)
    assert summary["outcome"] == "refused" and summary["challenger"] == challenger.version
    assert summary["model_before"] == summary["model_after"] == champion
    assert named in summary["gate_reason"]
    assert summary["metrics"]["gate_groups_refused"] == [f"age_band={DEGRADED_BAND}"]
    assert summary["metrics"]["gate_largest_gap_group"] == f"age_band={DEGRADED_BAND}"
    text = json.dumps(summary)
    assert f"age_band={DEGRADED_BAND}" in text
    assert state == "success", tasks
