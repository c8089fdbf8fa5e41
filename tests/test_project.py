"""The project's set-up: layout, the two make targets, and environment.yml agreeing with pyproject."""

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_layout():
    for name in ("notebooks", "dags", "dashboard", "data", "artifacts", "reports", "tests"):
        assert (ROOT / name).is_dir(), name
    for name in ("docker-compose.yml", "environment.yml", "README.md", "pyproject.toml", "Makefile", ".ci/run"):
        assert (ROOT / name).is_file(), name
    assert (ROOT / "src" / "mindpulse" / "__init__.py").is_file()


def test_environment_yml_lists_exactly_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    listed = {req for req in pip_section if not req.startswith("-e")}
    assert listed == declared, {"only in environment.yml": listed - declared, "only in pyproject": declared - listed}
    python = next(item for item in env["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert python == "python=3.11"


def test_known_breakages_are_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {re.split(r"[<>=\[]", d, maxsplit=1)[0]: d for d in project["dependencies"]}
    assert "<3.1" in deps["pandas"] or "<2.4" in deps["pandas"]  # evidently 0.7 breaks on pandas 3.1
    assert "xgboost-cpu" in deps and "xgboost" not in deps  # one of the two, the CPU build
    lock = (ROOT / "requirements.lock").read_text()
    pandas = re.search(r"^pandas==(\S+)$", lock, re.M).group(1)
    assert tuple(int(x) for x in pandas.split(".")[:2]) < (3, 1)
    assert "<5.7" in deps["celery"]  # 5.7.0 breaks apache-airflow-providers-celery's executor import
    celery = re.search(r"^celery==(\S+)$", lock, re.M).group(1)
    assert tuple(int(x) for x in celery.split(".")[:2]) < (5, 7)


#: A make of its own, even under `make test` (whose variables, PYTEST_ARGS say, would pass down).
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def make_dry_run(*args: str) -> list[str]:
    """The commands ``make ARGS`` would run (``--dry-run``: none is run)."""
    result = subprocess.run(["make", "--dry-run", *args], cwd=ROOT, env=MAKE_ENV, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ").splitlines()


def test_make_has_exactly_the_two_entry_points_and_each_does_its_job():
    database = subprocess.run(["make", "--print-data-base", "--question"], cwd=ROOT, env=MAKE_ENV, capture_output=True,
                              text=True, timeout=60).stdout
    phony = next(line for line in database.splitlines() if line.startswith(".PHONY:")).split()[1:]
    assert sorted(phony) == ["run", "test"]
    assert make_dry_run("run")[-1] == ".venv/bin/mindpulse platform run"
    pytest_command = make_dry_run("test", "PYTEST_ARGS=-m 'not slow'")[-1]
    assert pytest_command.startswith("env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m pytest --numprocesses 3")
    assert pytest_command.endswith("-m 'not slow'")
    # CI's whole job is the README's test command; running the script here would run the suite again,
    # so its text is what is checked.
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_documents_every_setting_and_the_two_commands():
    from mindpulse.settings import Settings

    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"MINDPULSE_{name.upper()}" in readme, name
    assert "make run" in readme and "make test" in readme
    assert "never a diagnosis" in readme


def test_what_requirements_exclude_names_is_left_out_of_the_environment_and_the_image():
    """Each excluded package costs every process that imports its dependant (see requirements.exclude)."""
    import importlib.metadata

    names = [line.strip() for line in (ROOT / "requirements.exclude").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert {"rfc3987-syntax", "boto3", "gcsfs", "azure-storage-blob", "pygithub"} <= set(names)
    for name in names:
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(name)  # installed: rerun `make test`
    # No Docker engine here to build the image: the Dockerfile's text is the only thing to check.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY --chown=airflow:0 pyproject.toml requirements.lock requirements.exclude" in dockerfile
    assert "pip uninstall --yes --requirement requirements.exclude" in dockerfile
    install = " ".join(make_dry_run("--always-make", ".venv/.mindpulse-installed"))
    assert "--excludes requirements.exclude" in install and "--constraint requirements.lock" in install

