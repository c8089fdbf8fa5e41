import subprocess
import sys

import pytest
from pydantic import ValidationError

from mindpulse.settings import Settings, get_settings


def test_defaults_live_under_home(tmp_path):
    s = Settings(home=tmp_path)
    assert s.data_dir == tmp_path / "data"
    assert s.artifacts_dir == tmp_path / "artifacts"
    assert s.reports_dir == tmp_path / "reports"
    assert s.reference_path == tmp_path / "data" / "reference.csv"
    assert s.database_url == f"sqlite:///{tmp_path / 'data' / 'mindpulse.db'}"
    assert (s.retrain_min_rows, s.feature_drift_threshold, s.reports_keep) == (1000, 0.3, 10)


def test_environment_overrides(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("MINDPULSE_RETRAIN_MIN_ROWS", "250")
    monkeypatch.setenv("MINDPULSE_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MINDPULSE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    get_settings.cache_clear()
    s = get_settings()
    assert s.retrain_min_rows == 250
    assert s.data_dir == tmp_path / "elsewhere"
    assert s.database_url == "postgresql+psycopg://u@h/db"


def test_bad_value_names_the_variable(settings, monkeypatch):
    monkeypatch.setenv("MINDPULSE_FEATURE_DRIFT_THRESHOLD", "lots")
    get_settings.cache_clear()
    with pytest.raises(ValidationError) as err:
        get_settings()
    assert "feature_drift_threshold" in str(err.value)
    assert "lots" in str(err.value)


def test_import_has_no_side_effects(tmp_path):
    code = "import mindpulse.settings, mindpulse.contract, mindpulse.synthetic, mindpulse.data, mindpulse.cli"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env={"PATH": "/usr/bin:/bin"})
    assert list(tmp_path.iterdir()) == []


REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_code_folders_come_from_the_project_whatever_the_home(tmp_path):
    s = Settings(home=tmp_path)  # an empty home outside the checkout
    assert s.dags_dir == REPO / "dags"
    assert s.notebooks_dir == REPO / "notebooks"
    assert s.dashboard_app == REPO / "dashboard" / "app.py"


def test_code_folders_have_their_own_settings(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("MINDPULSE_DAGS_DIR", str(tmp_path / "my-dags"))
    monkeypatch.setenv("MINDPULSE_NOTEBOOKS_DIR", str(tmp_path / "my-notebooks"))
    get_settings.cache_clear()
    s = get_settings()
    assert (s.dags_dir, s.notebooks_dir) == (tmp_path / "my-dags", tmp_path / "my-notebooks")


def test_without_a_project_beside_the_package_code_folders_default_inside_home(tmp_path, monkeypatch):
    import mindpulse.settings as module

    monkeypatch.setattr(module, "project_dir", lambda: None)  # as in an installed wheel (the image)
    s = Settings(home=tmp_path)
    assert (s.dags_dir, s.notebooks_dir) == (tmp_path / "dags", tmp_path / "notebooks")
    with pytest.raises(FileNotFoundError) as err:
        s.require_code_folder("dags_dir")
    assert str(err.value) == (f"{tmp_path / 'dags'}: no such folder (the Airflow DAG files); set MINDPULSE_DAGS_DIR "
                              "to the project's dags/ folder")
