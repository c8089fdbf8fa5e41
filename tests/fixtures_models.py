"""Helpers for the model tests (imported explicitly; conftest.py belongs to the whole suite)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from cli_support import invoke
from mindpulse.registry import ModelRegistry
from mindpulse.synthetic import SyntheticData, generate
from mindpulse.train import GateOutcome, train_register_and_judge

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")
FAST = ("logistic_regression",)


def synthetic(rows: int, seed: int) -> SyntheticData:
    return generate(rows, seed=seed)


def quick_train(frame: pd.DataFrame, registry: ModelRegistry, *, seed: int = 42, margin: float = 0.005,
                candidates=FAST, folds: int = 3) -> GateOutcome:
    """train_register_and_judge with one fast candidate: the registry's mechanics do not need all three."""
    return train_register_and_judge(frame, registry, seed=seed, margin=margin, data_source="test", candidates=candidates,
                          folds=folds)


def build_template(root: Path, rows: int = 3000, seed: int = 11) -> Path:
    """A registry with one champion, trained on generated rows."""
    quick_train(synthetic(rows, seed).canonical(), ModelRegistry(root))
    return root


def copy_registry(template: Path, destination: Path, **kwargs) -> ModelRegistry:
    shutil.copytree(template, destination)
    return ModelRegistry(destination, **kwargs)


def run_cli(*args: str, home: Path, extra_env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """``mindpulse ARGS`` on ``home`` (in this process: :mod:`cli_support`)."""
    return invoke(*args, home=home, env=extra_env, check=check)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single 'Error: ...' line of a failed command (asserts there is exactly one line)."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]
