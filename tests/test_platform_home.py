"""``mindpulse platform run`` refuses a home it cannot run from, with one line naming the setting, and
adds demo data only to a demo home (one made from an empty home, or with ``--demo``), once.

The platform itself, started on a home of its own outside the checkout, served and stopped, is
tested in ``tests/test_pipeline_e2e.py``, whose REST API runs go through it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import airflow_support as af
from mindpulse import contract as c
from mindpulse import pipeline
from mindpulse.platform.supervisor import stop_process_group
from mindpulse.data import ingest_reference, reference_origin
from mindpulse.pipeline import demo
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from shared_support import migrated

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDPULSE_", "AIRFLOW"))}
    env.update({"MINDPULSE_HOME": str(home), "MINDPULSE_PIPELINE_RETRIES": "0", "PYTHONUNBUFFERED": "1"})
    return env


def test_platform_run_names_the_setting_when_the_dag_folder_is_missing(tmp_path: Path) -> None:
    env = {**_env(tmp_path / "home"), "MINDPULSE_DAGS_DIR": str(tmp_path / "nowhere")}
    result = subprocess.run([MINDPULSE, "platform", "run", "--no-jupyter", "--no-dashboard", "--no-api"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"Error: {tmp_path / 'nowhere'}: no such folder (the Airflow DAG files); "
                                     "set MINDPULSE_DAGS_DIR to the project's dags/ folder")


# --- demo data only where asked ---------------------------------------------------------------------
def _real_format_csv(path: Path, rows: int, seed: int) -> Path:
    """Rows in the real file's exact format (its header and quirks), as a user's copy would be."""
    raw = generate(rows, seed=seed).raw
    assert list(raw.columns) == list(c.RAW_COLUMNS)
    raw.to_csv(path, index=False)
    return path


def _store_rows(settings: Settings) -> int:
    with Store.from_settings(settings) as store:
        return store.stats()["rows_total"]


def _start_then_stop(home: Path, *args: str) -> str:
    """``platform run`` until it has prepared its data and starts Airflow, then Ctrl-C: its output."""
    log = home.parent / f"platform-{time.monotonic_ns()}.log"
    env = {**_env(home), "MINDPULSE_AIRFLOW_API_URL": f"http://127.0.0.1:{af.free_port()}"}
    with open(log, "wb") as out:
        process = subprocess.Popen([MINDPULSE, "platform", "run", "--no-jupyter", "--no-dashboard", "--no-api", "--no-trigger",
                                    "--no-schedule", "--parallelism", "1", *args],
                                   env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "Starting Airflow standalone" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.3)
    finally:
        stop_process_group(process.pid, first_signal=signal.SIGINT, leader_only=True, grace=60)
    return log.read_text(errors="replace")


@pytest.mark.slow
def test_platform_run_twice_on_a_home_holding_ingested_real_data_adds_no_production_rows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    ingested = subprocess.run([MINDPULSE, "ingest", str(_real_format_csv(tmp_path / "students.csv", 2_000, seed=25))],
                              env=_env(home), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ingested.returncode == 0, ingested.stderr
    pipeline.train_first_champion(settings, candidates=["logistic_regression"])  # what 'mindpulse train' would do
    reference = settings.reference_path.read_bytes()

    for _ in range(2):
        output = _start_then_stop(home)
        assert f"Reference data: {settings.reference_path} (kept)" in output
        assert "Production traffic: none added (not a demo home" in output, output
        assert _store_rows(settings) == 0
    assert not (settings.data_dir / "demo.json").exists()
    assert settings.reference_path.read_bytes() == reference


@pytest.mark.slow
def test_a_demo_home_restarted_does_not_get_its_traffic_twice(demo_template: Path, tmp_path: Path, capsys) -> None:
    from mindpulse.platform.home import prepare_data

    home = tmp_path / "home"
    shutil.copytree(demo_template, home)
    settings = Settings(home=home)
    marker = json.loads((settings.data_dir / "demo.json").read_text())
    assert marker["traffic_added_at"] and marker["traffic"]["predictions_logged"] == 1_200
    before = _store_rows(settings)

    prepare_data(settings, None)
    assert "Production traffic: none added (the demo traffic was added on" in capsys.readouterr().out
    # A crash after the traffic was stored but before the marker said so: the rows in the store suffice.
    (settings.data_dir / "demo.json").write_text(json.dumps({**marker, "traffic_added_at": None}))
    prepare_data(settings, None)
    said = capsys.readouterr().out
    assert "Production traffic: none added (the home holds 1200 row(s) in the production store)" in said
    assert _store_rows(settings) == before


def test_platform_run_no_demo_on_an_empty_home_refuses_and_says_to_ingest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run([MINDPULSE, "platform", "run", "--no-demo", "--no-jupyter", "--no-dashboard", "--no-api",
                             "--airflow-port", str(af.free_port())],
                            env=_env(home), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    settings = Settings(home=home)
    assert result.stderr.strip() == (
        f"Error: {settings.reference_path}: no reference data in this home; ingest your CSV first ('mindpulse ingest "
        "student_depression_dataset.csv'), or run with --demo on an empty home for synthetic demo data")
    assert not settings.reference_path.exists() and not (settings.data_dir / "demo.json").exists()


def test_a_home_with_a_users_rows_but_no_reference_gets_no_synthetic_reference(tmp_path: Path) -> None:
    """Predictions or feedback in the store make a home a user's: no synthetic reference, no demo."""
    home = tmp_path / "home"
    settings = Settings(home=home)
    row = generate(1, seed=3).raw.iloc[0].to_dict()
    subprocess.run([MINDPULSE, "store", "migrate"], env=_env(home), cwd=tmp_path, check=True, timeout=120)
    stored = subprocess.run([MINDPULSE, "feedback", "--row", json.dumps(row, default=str)], env=_env(home),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert stored.returncode == 0, stored.stderr
    for command in (["platform", "run", "--no-jupyter", "--no-dashboard", "--no-api", "--airflow-port", str(af.free_port())],
                    ["platform", "prepare"]):
        result = subprocess.run([MINDPULSE, *command], env=_env(home), cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2 and "no reference data in this home; ingest your CSV first" in result.stderr
    demo = subprocess.run([MINDPULSE, "platform", "prepare", "--demo"], env=_env(home), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 2
    assert demo.stderr.strip() == (f"Error: --demo: {home} holds 1 row(s) in the production store; demo data goes "
                                   "only into an empty home (or one that is already a demo home)")
    assert not settings.reference_path.exists() and not (settings.data_dir / "demo.json").exists()


def test_demo_data_goes_into_an_empty_home_and_is_recorded_there(tmp_path: Path) -> None:
    """What 'make run' does on a fresh machine: an empty home becomes a demo home, recorded with its seed;
    an ingested reference is never replaced and makes '--demo' a refusal."""
    home = tmp_path / "home"
    settings = migrated(Settings(home=home))  # as 'platform run' and 'platform prepare' do first
    assert demo.decide_demo(settings, None).demo and demo.decide_demo(settings, True).demo
    assert not demo.decide_demo(settings, False).demo
    result = subprocess.run([MINDPULSE, "platform", "prepare", "--seed", "5"], env=_env(home), cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    marker = json.loads((settings.data_dir / "demo.json").read_text())
    assert marker["seed"] == 5 and marker["created_by"] == "platform prepare" and marker["traffic_added_at"] is None
    assert marker["reference"]["rows"] == 27_901 and reference_origin(settings) == "synthetic"
    assert demo.decide_demo(settings, None).demo  # the marker keeps it a demo home

    other = migrated(Settings(home=tmp_path / "real"))
    ingest_reference(other, _real_format_csv(tmp_path / "students.csv", 300, seed=9))
    assert reference_origin(other) == "ingested"
    assert not demo.decide_demo(other, None).demo
    with pytest.raises(demo.DemoRefused, match=r"--demo: .* holds reference data ingested from a file"):
        demo.decide_demo(other, True)
    assert demo.add_demo_traffic(other, seed=1) == "not a demo home" and _store_rows(other) == 0
    # A demo home whose traffic was not added yet, into which the user then ingested a real CSV: none is added.
    ingest_reference(settings, _real_format_csv(tmp_path / "students.csv", 300, seed=9))
    assert demo.add_demo_traffic(settings, seed=1) == (
        f"the home holds reference data ingested from a file ({settings.reference_path})")
    assert _store_rows(settings) == 0
