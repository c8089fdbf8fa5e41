"""``mindpulse platform run`` refuses a home it cannot run from, with one line naming the setting.

The platform itself, started on a home of its own outside the checkout, served and stopped, is
tested in ``tests/test_pipeline_e2e.py``, whose REST API runs go through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDPULSE_", "AIRFLOW"))}
    env.update({"MINDPULSE_HOME": str(home), "MINDPULSE_PIPELINE_RETRIES": "0", "PYTHONUNBUFFERED": "1"})
    return env


def test_platform_run_names_the_setting_when_the_dag_folder_is_missing(tmp_path: Path) -> None:
    env = {**_env(tmp_path / "home"), "MINDPULSE_DAGS_DIR": str(tmp_path / "nowhere")}
    result = subprocess.run([MINDPULSE, "platform", "run", "--no-jupyter", "--no-dashboard"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"Error: {tmp_path / 'nowhere'}: no such folder (the Airflow DAG files); "
                                     "set MINDPULSE_DAGS_DIR to the project's dags/ folder")
