"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and a broken one is caught.

The contracts say who may import whom (the package never imports the dashboard; the dashboard's
views reach the store only through their page's store module); ``lint-imports`` checks them on
the import graph, so no test reads a source line to check an import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(cwd: Path, config: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else dict(os.environ)
    return subprocess.run([LINT_IMPORTS, "--config", str(config), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_projects_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout
    assert len(contracts) >= 4


def test_a_view_importing_the_store_and_a_pipeline_importing_the_dashboard_break_the_contracts(tmp_path: Path) -> None:
    """The same contracts on a planted code tree that breaks them: lint-imports fails and names each."""
    files = {
        "mindpulse/__init__.py": "",
        "mindpulse/store/__init__.py": "",
        "mindpulse/pipeline.py": "import dashboard\n",
        "mindpulse/api/__init__.py": "from dashboard import views\n",
        "dashboard/__init__.py": "",
        "dashboard/stores/__init__.py": "import mindpulse.store\n",
        "dashboard/views/__init__.py": "",
        "dashboard/views/feedback.py": "def refresh():\n    from mindpulse.store import records\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text())

    result = lint_imports(tmp_path, config, pythonpath=tmp_path)

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert len(broken) == 4, result.stdout
    assert "dashboard.views.feedback -> mindpulse.store" in result.stdout
    assert "mindpulse.pipeline -> dashboard" in result.stdout
