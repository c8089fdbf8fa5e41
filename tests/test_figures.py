"""One printing rule per kind of figure: the CV ROC-AUC that training prints is the one 'mindpulse models' lists,
and row counts print as whole numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mindpulse import synthetic
from mindpulse.commands.models import _fmt
from mindpulse.figures import format_auc, format_count
from mindpulse.registry import ModelRegistry
from mindpulse.train import train_register_and_judge


def test_training_prints_the_cv_roc_auc_that_the_models_listing_shows(tmp_path: Path) -> None:
    lines: list[str] = []
    registry = ModelRegistry(tmp_path / "artifacts")
    frame = synthetic.generate(1_500, seed=4).canonical()
    outcome = train_register_and_judge(frame, registry, seed=4, margin=0.005, data_source="test", progress=lines.append,
                             candidates=("logistic_regression",), folds=3)
    printed = re.search(r"CV ROC-AUC (\d\.\d{4})", "\n".join(lines))
    assert printed, lines
    listed = _fmt(registry.get(outcome.version).metric("cv"))
    assert printed.group(1) == listed  # the same figure, printed by the same rule
    # The per-candidate lines are a different figure (mean over folds, before calibration) and say so.
    assert any("fold-mean ROC-AUC" in line for line in lines)


def test_counts_and_aucs_have_one_form() -> None:
    assert [format_count(v) for v in (5581, 5581.0, 4464.0, None, float("nan"))] == ["5,581", "5,581", "4,464", "–", "–"]
    assert format_auc(0.92145) == f"{0.92145:.4f}" and format_auc(None) == ""
    assert format_count(pd.Series([4464.0]).iloc[0]) == "4,464"
