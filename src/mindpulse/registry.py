"""The model registry on disk: versions, the champion and backup pointers, promotion, rollback, pruning.

Layout under ``settings.artifacts_dir``::

    registry.json            champion, backup, the best promoted ROC-AUC and the history of every
                             promotion, refusal and rollback
    registry.lock            held while the registry changes (two processes never promote at once)
    holdout.csv / .json      the fixed holdout (canonical form) and its sha256 (:mod:`mindpulse.holdout`)
    models/v0001-20261126T071500Z/
        model.pkl            the ScreeningModel (joblib)
        recent.csv           the recent production rows held out of its training (when there were any)
        metadata.json        version, created_at, data sha256 and rows, lineage, parameters, CV and
                             holdout metrics, threshold, code version, parent, model_sha256,
                             gate decision, status

``registry.json`` is the single source of truth for which version is champion and backup; it
is replaced atomically, so a process killed at any moment leaves the old or the new pointer,
never half of one. The ``status`` in each metadata.json mirrors it (champion, backup,
archived = was champion once, refused = refused by the gate and never champion, candidate =
registered but not yet through the gate) and is rewritten after every change.

Only a promotion (or a rollback) moves the backup: it becomes the champion being replaced, so
after any run of promotions, refusals and prunes a rollback has a target once two models have
been champion. Pruning keeps the newest ``keep`` versions, the champion, the backup, the last
``former_keep`` former champions, and any version a caller names (those its run records refer
to).

Promotion is :mod:`mindpulse.promotion`: it scores both models on the same rows (the fixed
holdout and the challenger's ``recent.csv``) without the lock, puts the scores through
:func:`mindpulse.gate.judge`, and records the verdict only if the champion is still the one it
scored. The files and the lock are :mod:`mindpulse.registry_files`.

A model file is loaded only after its sha256 matches the one recorded at registration.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import fencing, gate
from mindpulse.holdout import HOLDOUT_FRACTION, FixedHoldout, HoldoutError, row_keys, without_rows
from mindpulse.io import atomic_write_csv, atomic_write_json
from mindpulse.promotion import PromotionDecision
from mindpulse.registry_pointer import rolled_back_from, was_champion
from mindpulse.registry_files import (FORMER_CHAMPIONS_KEEP, LOCK_TIMEOUT_SECONDS, METADATA_FILE, MODEL_FILE,
                                      RECENT_FILE, VERSION_PATTERN, ModelIntegrityError, ModelVersion, RegistryError,
                                      RegistryLock, code_version, file_sha256, iso, now, version_number)

__all__ = ["FORMER_CHAMPIONS_KEEP", "ModelIntegrityError", "ModelRegistry", "ModelVersion", "PromotionDecision",
           "RegistryError", "file_sha256", "row_keys", "version_number"]


class ModelRegistry:
    """Model versions on disk under ``root``, with a champion, a backup and a promotion gate."""

    def __init__(self, root: Path | str, *, keep: int = 10, margin: float = 0.005,
                 lock_timeout: float = LOCK_TIMEOUT_SECONDS, former_keep: int = FORMER_CHAMPIONS_KEEP,
                 group_columns: Sequence[str] = (), group_min_size: int = gate.GROUP_MIN_SIZE,
                 group_margin: float = gate.GROUP_MARGIN):
        self.root = Path(root)
        self.group_columns = tuple(group_columns)
        self.group_min_size = int(group_min_size)
        self.group_margin = float(group_margin)
        self.keep = keep
        self.former_keep = former_keep
        self.margin = margin
        self.lock_timeout = lock_timeout
        self._lock = RegistryLock(self.root, lock_timeout)

    @classmethod
    def from_settings(cls, settings: Any) -> "ModelRegistry":
        return cls(settings.artifacts_dir, keep=settings.models_keep, margin=settings.promotion_margin,
                   former_keep=getattr(settings, "former_champions_keep", FORMER_CHAMPIONS_KEEP),
                   group_columns=settings.group_columns, group_min_size=settings.group_min_size,
                   group_margin=settings.group_margin)

    # --- paths --------------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def pointer_path(self) -> Path:
        return self.root / "registry.json"

    @property
    def holdout_path(self) -> Path:
        return self.root / "holdout.csv"

    @property
    def holdout_meta_path(self) -> Path:
        return self.root / "holdout.json"

    # --- reading ------------------------------------------------------------------------------
    def pointer(self) -> dict[str, Any]:
        """The champion pointer: champion, backup, updated_at and history (checked by its schema)."""
        from mindpulse.registry_pointer import PointerFileError, load_pointer

        try:
            return load_pointer(self.pointer_path)
        except PointerFileError as exc:
            raise RegistryError(str(exc)) from None

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest first."""
        pointer = self.pointer()
        out = []
        if not self.models_dir.is_dir():
            return out
        for folder in self.models_dir.iterdir():
            if not folder.is_dir() or not VERSION_PATTERN.match(folder.name):
                continue
            meta_path = folder / METADATA_FILE
            if not meta_path.is_file():
                continue
            try:
                metadata = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise RegistryError(f"{meta_path}: unreadable metadata ({exc}); restore the file or remove the "
                                    "version folder") from exc
            out.append(ModelVersion(folder.name, folder, metadata, self._status(folder.name, metadata, pointer)))
        return sorted(out, key=lambda v: v.number)

    def get(self, version: str) -> ModelVersion:
        """One version by id; a clear error lists the known ones."""
        version_number(version)
        for candidate in self.versions():
            if candidate.version == version:
                return candidate
        known = ", ".join(v.version for v in self.versions()) or "none yet"
        raise RegistryError(f"version: got {version!r}, expected one of the registered versions ({known})")

    def champion(self) -> ModelVersion | None:
        name = self.pointer().get("champion")
        return self.get(name) if name else None

    def backup(self) -> ModelVersion | None:
        name = self.pointer().get("backup")
        return self.get(name) if name else None

    def history(self) -> list[dict[str, Any]]:
        return list(self.pointer().get("history", []))

    def _status(self, version: str, metadata: dict[str, Any], pointer: dict[str, Any]) -> str:
        if pointer.get("champion") == version:
            return "champion"
        if pointer.get("backup") == version:
            return "backup"
        if was_champion(version, pointer):
            return "archived"
        if (metadata.get("gate") or {}).get("promoted") is False:
            return "refused"
        return "candidate"

    def load_model(self, version: str | None = None) -> Any:
        """The model of ``version`` (default: the champion), after checking its sha256."""
        import joblib

        if version is None:
            champion = self.champion()
            if champion is None:
                raise RegistryError(f"{self.root}: no champion model yet; run 'mindpulse train' first")
            target = champion
        else:
            target = self.get(version)
        expected = target.metadata.get("model_sha256")
        if not target.model_path.is_file():
            raise ModelIntegrityError(f"{target.model_path}: the model file of {target.version} is missing")
        payload = target.model_path.read_bytes()
        actual = hashlib.sha256(payload).hexdigest()
        if not expected or actual != expected:
            raise ModelIntegrityError(
                f"{target.model_path}: sha256 {actual[:16]}… does not match the {str(expected)[:16]}… recorded when "
                f"{target.version} was registered; the file was changed, so it is not loaded "
                f"(roll back with 'mindpulse rollback' or retrain)"
            )
        # The bytes that were checked are the bytes unpickled: no window for a swap.
        return joblib.load(io.BytesIO(payload))

    # --- holdout ------------------------------------------------------------------------------
    @property
    def _fixed(self) -> FixedHoldout:
        return FixedHoldout(self.root)

    def holdout(self) -> pd.DataFrame | None:
        """The fixed holdout (canonical form), or None before the first training."""
        try:
            return self._fixed.load()
        except HoldoutError as exc:
            raise RegistryError(str(exc)) from exc

    def ensure_holdout(self, frame: pd.DataFrame, *, seed: int, fraction: float = HOLDOUT_FRACTION) -> pd.DataFrame:
        """The fixed holdout; drawn from ``frame`` (stratified, seeded) when there is none yet."""
        with self._locked():
            existing = self.holdout()
            if existing is not None:
                return existing
            return self._fixed.draw(frame, seed=seed, fraction=fraction)

    def exclude_holdout(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without the rows of the fixed holdout (matched by content)."""
        return without_rows(frame, self.holdout())

    def recent(self, version: str) -> pd.DataFrame | None:
        """The recent production rows held out of ``version``'s training, or None."""
        from mindpulse.data import read_canonical

        path = self.get(version).path / RECENT_FILE
        return read_canonical(path) if path.is_file() else None

    def score_holdout(self, version: str) -> dict[str, float]:
        """Metrics of ``version`` on the fixed holdout (its model's sha256 checked first)."""
        from mindpulse.evaluation import evaluate

        holdout = self.holdout()
        if holdout is None:
            raise RegistryError(f"{self.holdout_path}: no fixed holdout yet; it is drawn by the first training")
        return evaluate(self.load_model(version), holdout)

    def scores(self, version: str, recent: pd.DataFrame | None = None) -> dict[str, gate.SliceScores]:
        """``version``'s probabilities on the fixed holdout and on ``recent`` (the gate's score set)."""
        from mindpulse.evaluation import labels_of

        holdout = self.holdout()
        if holdout is None:
            raise RegistryError(f"{self.holdout_path}: no fixed holdout yet; it is drawn by the first training")
        model = self.load_model(version)
        out = {gate.FIXED: gate.SliceScores(labels_of(holdout), model.predict_proba(holdout))}
        if recent is not None and len(recent):
            out[gate.RECENT] = gate.SliceScores(labels_of(recent), model.predict_proba(recent))
        return out

    def holdout_groups(self) -> pd.DataFrame:
        """Each fixed-holdout row's group per attribute (gender, age band, ``group_columns``), in holdout order."""
        from mindpulse.groups import group_labels

        holdout = self.holdout()
        if holdout is None:
            raise RegistryError(f"{self.holdout_path}: no fixed holdout yet; it is drawn by the first training")
        try:
            return group_labels(holdout, self.group_columns)
        except KeyError as exc:
            raise RegistryError(f"group_columns: got {list(self.group_columns)}; {exc.args[0]} (set "
                                "MINDPULSE_GROUP_COLUMNS to canonical columns of the data)") from None

    def best_promoted(self) -> tuple[str | None, float | None]:
        """The version with the best fixed-holdout ROC-AUC of all that were ever champion, and that ROC-AUC."""
        return self._best_promoted(self.pointer())

    def _best_promoted(self, pointer: dict[str, Any]) -> tuple[str | None, float | None]:
        best = pointer.get("best_promoted") or {}
        if best.get("roc_auc") is not None:
            return best.get("version"), float(best["roc_auc"])
        # Registries written before the bound was kept: the best of the former champions still on disk.
        was = {e.get("champion_after") for e in pointer.get("history", [])} | {pointer.get("champion")}
        known = [(v.metric("holdout"), v.version) for v in self.versions() if v.version in was]
        known = [(auc, name) for auc, name in known if auc is not None]
        if not known:
            return None, None
        auc, name = max(known)
        return name, auc

    def rolled_back_from(self, version: str) -> dict[str, Any] | None:
        """The rollback event that last took ``version`` off champion, or None (it left otherwise, or never was)."""
        return rolled_back_from(version, self.pointer())

    def former_champions(self) -> list[str]:
        """Versions that were champion before the current one, the most recent first (present on disk or not)."""
        pointer = self.pointer()
        seen: list[str] = []
        for event in reversed(pointer.get("history", [])):
            for name in (event.get("champion_before"), event.get("champion_after")):
                if name and name != pointer.get("champion") and name not in seen and was_champion(name, pointer):
                    seen.append(name)
        return seen

    # --- writing ------------------------------------------------------------------------------
    def register(self, model: Any, metadata: dict[str, Any], *, recent: pd.DataFrame | None = None) -> ModelVersion:
        """Store a model as a new version (status candidate); the folder appears whole or not at all.

        ``recent``: the recent production rows held out of its training; the gate scores the
        champion and this model on them too.
        """
        import joblib

        from mindpulse import contract as c
        from mindpulse.data import frame_sha256

        with self._locked():
            self._clean_leftovers()
            numbers = [v.number for v in self.versions()]
            number = max(numbers, default=0) + 1
            created = now()
            version = f"v{number:04d}-{created.strftime('%Y%m%dT%H%M%SZ')}"
            staging = self.models_dir / f".staging-{version}"
            staging.mkdir(parents=True, exist_ok=False)
            try:
                joblib.dump(model, staging / MODEL_FILE, compress=3)
                with open(staging / MODEL_FILE, "rb") as fh:
                    os.fsync(fh.fileno())
                recent_record = None
                if recent is not None and len(recent):
                    rows = recent.reindex(columns=list(c.CANONICAL_COLUMNS)).reset_index(drop=True)
                    atomic_write_csv(staging / RECENT_FILE, rows)
                    recent_record = {"file": RECENT_FILE, "rows": len(rows), "sha256": frame_sha256(rows),
                                     "positive_rate": float(rows[c.TARGET].astype(float).mean())}
                full = {
                    **metadata,
                    "recent_holdout": recent_record,
                    "version": version,
                    "created_at": iso(created),
                    "model_file": MODEL_FILE,
                    "model_sha256": file_sha256(staging / MODEL_FILE),
                    "model_bytes": (staging / MODEL_FILE).stat().st_size,
                    "code": metadata.get("code") or code_version(),
                    "status": "candidate",
                }
                if self.holdout_meta_path.is_file():
                    full.setdefault("holdout_sha256", json.loads(self.holdout_meta_path.read_text()).get("sha256"))
                atomic_write_json(staging / METADATA_FILE, full)
                fencing.check(f"register {version}")
                os.rename(staging, self.models_dir / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return self.get(version)

    def promote(self, version: str, *, margin: float | None = None, force: bool = False,
                reason: str | None = None, hold: dict[str, Any] | None = None) -> PromotionDecision:
        """Make ``version`` champion if it passes the gate (or ``force``); the champion it replaces becomes the backup.

        The gate (:func:`mindpulse.gate.judge`) compares champion and challenger on the same
        rows: the fixed holdout and the challenger's recent production slice, with a paired
        bootstrap interval of the ROC-AUC difference; and it bounds the fixed-holdout ROC-AUC by
        the best promoted model's minus the margin. The first model becomes champion without a
        gate. A refused challenger stays registered with status ``refused`` and the reason.
        ``force`` bypasses the gate and needs a ``reason``. Both models are scored without the
        lock; the pointer moves only if the champion is still the one scored
        (:mod:`mindpulse.promotion`).
        """
        from mindpulse.promotion import promote

        return promote(self, version, margin=self.margin if margin is None else float(margin), force=force,
                       reason=reason, hold=hold)

    def rollback(self, to: str | None = None) -> ModelVersion:
        """Make the backup (or version ``to``, a former champion) the champion again.

        The champion being replaced becomes the backup, so a rollback can itself be undone.
        """
        with self._locked():
            self._clean_leftovers()
            pointer = self.pointer()
            current = pointer.get("champion")
            if to is None:
                to = pointer.get("backup")
                if not to:
                    raise RegistryError("no backup model to roll back to; name a former champion with --to VERSION")
            target = self.get(to)
            if to == current:
                raise RegistryError(f"version: {to} is already the champion")
            if not was_champion(to, pointer) and to != pointer.get("backup"):
                raise RegistryError(f"version: {to} has never been champion (status {target.status}); rollback goes "
                                    f"to a former champion; use 'mindpulse promote {to}' to put it through the gate")
            self.load_model(to)  # never roll back onto a changed file
            pointer["champion"], pointer["backup"] = to, current
            self._write_pointer(pointer, {"at": iso(now()), "event": "rollback", "version": to,
                                          "champion_before": current, "champion_after": to, "backup_after": current,
                                          "reason": "rollback"})
            self._sync_statuses()
            return self.get(to)

    def prune(self, keep: int | None = None, *, protect: Any = ()) -> list[str]:
        """Delete versions beyond the newest ``keep``, except the champion, the backup, the last
        ``former_keep`` former champions and the versions in ``protect``; returns those deleted."""
        keep = self.keep if keep is None else keep
        if keep < 1:
            raise RegistryError(f"keep: got {keep}, expected 1 or more")
        with self._locked():
            pointer = self.pointer()
            protected = {pointer.get("champion"), pointer.get("backup"), *self.former_champions()[:self.former_keep],
                         *protect}
            versions = sorted(self.versions(), key=lambda v: v.number, reverse=True)
            removed = []
            for position, version in enumerate(versions):
                if position < keep or version.version in protected:
                    continue
                # Rename first: a kill mid-delete leaves a hidden folder, not a half version.
                trash = self.models_dir / f".trash-{version.version}"
                os.rename(version.path, trash)
                shutil.rmtree(trash, ignore_errors=True)
                removed.append(version.version)
            return sorted(removed)

    def check(self) -> list[str]:
        """Problems with the registry's consistency (empty when all is well)."""
        problems = []
        try:
            pointer = self.pointer()
        except RegistryError as exc:
            return [str(exc)]
        names = {v.version for v in self.versions()}
        for role in ("champion", "backup"):
            name = pointer.get(role)
            if name and name not in names:
                problems.append(f"{role} {name} has no complete version folder")
            elif name:
                try:
                    self.load_model(name)
                except RegistryError as exc:
                    problems.append(f"{role}: {exc}")
        if names and not pointer.get("champion"):
            problems.append("versions exist but there is no champion")
        return problems

    # --- internals ----------------------------------------------------------------------------
    def _locked(self) -> RegistryLock:
        return self._lock

    def _write_pointer(self, pointer: dict[str, Any], event: dict[str, Any]) -> None:
        pointer = dict(pointer)
        pointer["history"] = [*pointer.get("history", []), event]
        pointer["updated_at"] = event["at"]
        atomic_write_json(self.pointer_path, pointer)

    def _sync_statuses(self) -> None:
        """Mirror each version's status into its metadata.json."""
        for version in self.versions():
            if version.metadata.get("status") != version.status:
                atomic_write_json(version.path / METADATA_FILE, {**version.metadata, "status": version.status})

    def _clean_leftovers(self) -> None:
        """Remove what a killed process left: staging/trash folders and temporary files."""
        if self.models_dir.is_dir():
            for folder in self.models_dir.iterdir():
                if folder.name.startswith((".staging-", ".trash-")):
                    shutil.rmtree(folder, ignore_errors=True)
                elif folder.is_dir():
                    for leftover in folder.glob(".*.tmp"):
                        leftover.unlink(missing_ok=True)
        if self.root.is_dir():
            for leftover in self.root.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)
        self._sync_statuses()
