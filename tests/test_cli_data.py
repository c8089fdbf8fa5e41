"""The ``mindpulse`` data commands as a user runs them (the app the binary calls, in this process:
:mod:`cli_support`), one-line errors."""

from pathlib import Path

import pandas as pd

from cli_support import invoke
from mindpulse import contract as c

def run(*args, env_home: Path, check=False):
    return invoke(*args, home=env_home, check=check)


def test_help_lists_every_data_command(tmp_path):
    out = run("--help", env_home=tmp_path).stdout
    for command in ("generate", "ingest", "info"):
        assert command in out
    gen_help = run("generate", "--help", env_home=tmp_path).stdout
    for option in ("--rows", "--seed", "--scenario", "--strength", "--columns", "--label-shift", "--output"):
        assert option in gen_help


def test_generate_reference_then_info(tmp_path):
    result = run("generate", "reference", "--rows", "400", "--seed", "3", env_home=tmp_path, check=True)
    assert "400 of 400 rows" in result.stdout
    frame = pd.read_csv(tmp_path / "data" / "reference.csv")
    assert list(frame.columns) == list(c.CANONICAL_COLUMNS) and len(frame) == 400
    raw = pd.read_csv(tmp_path / "data" / "raw" / "student_depression_synthetic.csv", dtype=str, keep_default_na=False)
    assert list(raw.columns) == list(c.RAW_COLUMNS)
    info = run("info", env_home=tmp_path, check=True).stdout
    assert "Reference data: 400 rows" in info and "screening aid" in info


def test_generate_production_with_a_scenario(tmp_path):
    out = tmp_path / "prod.csv"
    run("generate", "production", "-n", "120", "--scenario", "exam_season", "-o", str(out), env_home=tmp_path, check=True)
    assert c.read_csv(out).n_valid == 120


def test_ingest_reports_rows_set_aside(tmp_path):
    good = ",".join(["1", "Male", "20.0", "Pune", "Student", "3.0", "0.0", "7.5", "2.0", "0.0", "'7-8 hours'",
                     "Healthy", "BSc", "No", "6.0", "2.0", "Yes", "0"])
    bad = good.replace("1,Male", "2,Male").replace("'7-8 hours'", "'9 hours'")
    path = tmp_path / "mine.csv"
    path.write_text(",".join(c.RAW_COLUMNS) + "\n" + good + "\n" + bad + "\n")
    result = run("ingest", str(path), env_home=tmp_path, check=True)
    assert "1 of 2 rows" in result.stdout and "1 row(s) set aside" in result.stdout
    strict = run("ingest", str(path), "--strict", env_home=tmp_path)
    assert strict.returncode == 2
    assert "Sleep Duration" in strict.stderr and "'9 hours'" in strict.stderr


def test_errors_are_one_line_without_traceback(tmp_path):
    for args in (("ingest", str(tmp_path / "missing.csv")),
                 ("generate", "production", "--scenario", "winter"),
                 ("generate", "sideways")):
        result = run(*args, env_home=tmp_path)
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
        assert "Traceback" not in result.stderr
