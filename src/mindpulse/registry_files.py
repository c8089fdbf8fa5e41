"""What the model registry keeps on disk, and how it is read safely: version folders and their
files, version names, file digests, the code that trained a model, and the registry lock.

Used by :mod:`mindpulse.registry` (storage) and :mod:`mindpulse.promotion` (the gate's
decisions); imports neither.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from mindpulse import fencing

VERSION_PATTERN = re.compile(r"^v(\d{4,})-(\d{8}T\d{6}Z)$")
MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"
RECENT_FILE = "recent.csv"
FORMER_CHAMPIONS_KEEP = 3
LOCK_TIMEOUT_SECONDS = 120.0


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why and what to do."""


class ModelIntegrityError(RegistryError):
    """A model file whose sha256 differs from the one recorded when it was registered."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: its folder, its metadata and its status."""

    version: str
    path: Path
    metadata: dict[str, Any]
    status: str

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def created_at(self) -> str:
        return str(self.metadata.get("created_at", ""))

    @property
    def number(self) -> int:
        return version_number(self.version)

    def metric(self, section: str, name: str = "roc_auc") -> float | None:
        """A metric from metadata: section ``holdout`` or ``cv`` (the selected model)."""
        block = self.metadata.get(section) or {}
        if section == "cv":
            block = block.get("selected") or {}
        value = block.get(name)
        return None if value is None else float(value)


def version_number(version: str) -> int:
    match = VERSION_PATTERN.match(version)
    if not match:
        raise RegistryError(f"version: got {version!r}, expected a registry version such as 'v0001-20261126T071500Z'")
    return int(match.group(1))


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> dict[str, Any]:
    """The git commit of the package's checkout (when there is one) and the versions that matter."""
    import pandas as pd
    import sklearn
    import xgboost

    from mindpulse import __version__

    commit = None
    try:
        run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        if run.returncode == 0:
            commit = run.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"git_commit": commit, "package_version": __version__, "python": sys.version.split()[0],
            "scikit_learn": sklearn.__version__, "xgboost": xgboost.__version__, "pandas": pd.__version__}


class RegistryLock:
    """The registry's file lock, with a clear error when another process keeps it.

    Taken for every change of the registry (register, promote's write, rollback, prune) and
    never while a model is scored, so no one waits for minutes.
    """

    def __init__(self, root: Path, timeout: float):
        self.root = Path(root)
        self.timeout = timeout
        self._lock = FileLock(str(self.root / "registry.lock"), timeout=timeout)

    @property
    def lock_file(self) -> str:
        return self._lock.lock_file

    @property
    def is_locked(self) -> bool:
        """True while this process holds the lock."""
        return self._lock.is_locked

    def __enter__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise RegistryError(f"{self._lock.lock_file}: another process has held the registry lock for "
                                f"{self.timeout:g} s; try again when it has finished") from exc
        try:  # a pipeline step whose task has ended changes nothing (mindpulse.fencing)
            fencing.check(f"change the model registry in {self.root}")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        self._lock.release()
