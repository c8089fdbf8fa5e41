"""Promotion: put a registered version through the gate, then move the champion pointer.

Scoring both models (loading them, predicting the fixed holdout and the recent slice, the
bootstrap intervals) takes seconds, and longer on a busy machine; it runs without the registry
lock, so nothing else that changes the registry waits for it. Then the lock is taken and the
pointer is compared and swapped: when the champion (or the best promoted ROC-AUC the gate
bounds by) changed since the scores were taken, the challenger is scored again against the new
champion, up to ``MAX_ATTEMPTS`` times, after which a :class:`RegistryError` says why. A
promotion never rests on a comparison with a champion that is no longer the champion.

The gate itself is :func:`mindpulse.gate.judge`, a pure function of the two score sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mindpulse import fencing, gate
from mindpulse.io import atomic_write_json
from mindpulse.registry_files import METADATA_FILE, ModelIntegrityError, RegistryError, iso, now
from mindpulse.registry_pointer import rolled_back_from

if TYPE_CHECKING:
    from mindpulse.registry import ModelRegistry

#: Times a promotion scores before it gives up because the champion keeps changing under it.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class PromotionDecision:
    """The gate's verdict on one challenger."""

    version: str
    promoted: bool
    reason: str
    champion_before: str | None
    champion_after: str | None
    challenger_auc: float | None
    champion_auc: float | None
    margin: float
    forced: bool = False
    decided_at: str = ""
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    best_promoted_auc: float | None = None
    floor: float | None = None
    rule: str = gate.RULE
    #: Champion and challenger per group of the fixed holdout (:meth:`mindpulse.gate.GroupComparison.to_dict`)
    groups: list[dict[str, Any]] = field(default_factory=list)
    #: The judged group where the challenger loses most, or None
    largest_gap: dict[str, Any] | None = None
    group_margin: float | None = None
    group_min_size: int | None = None


@dataclass(frozen=True)
class _Scored:
    """A verdict, and the state of the registry it was reached in."""

    champion: str | None
    best_version: str | None
    best_auc: float | None
    challenger_auc: float
    verdict: gate.Verdict


def promote(registry: "ModelRegistry", version: str, *, margin: float, force: bool = False,
            reason: str | None = None, hold: dict[str, Any] | None = None) -> PromotionDecision:
    """Make ``version`` champion if it passes the gate (or ``force``); see :meth:`ModelRegistry.promote`.

    ``hold``: a challenger that passes is held for a person's approval instead (its metadata gets
    ``approval: {"status": "pending", **hold, ...}``; the pointer does not move; see
    :mod:`mindpulse.approval`). A refusal is recorded as always.
    """
    if force and not (reason and reason.strip()):
        raise RegistryError("reason: a forced promotion needs a reason (it is recorded in the registry)")
    registry.get(version)  # an unknown version fails before any scoring
    challenger_scores = None
    seen_champions: list[str | None] = []
    for _ in range(MAX_ATTEMPTS):
        seen = registry.pointer()
        scored = None
        if _settled(registry, version, seen, margin=margin, force=force, write=False) is None:
            if challenger_scores is None:
                challenger_scores = registry.scores(version, registry.recent(version))
            scored = _score(registry, version, seen, challenger_scores, margin=margin, force=force)
            seen_champions.append(scored.champion)
        with registry._locked():
            registry._clean_leftovers()
            pointer = registry.pointer()
            settled = _settled(registry, version, pointer, margin=margin, force=force, write=True)
            if settled is not None:
                return settled
            best_version, best_auc = registry._best_promoted(pointer)
            if scored is not None and (scored.champion, scored.best_version, scored.best_auc) == (
                    pointer.get("champion"), best_version, best_auc):
                return _record(registry, version, pointer, scored, margin=margin, force=force, reason=reason,
                               hold=hold)
        # The champion changed while the models were scored: score again against the new one.
    raise RegistryError(f"version {version}: the champion changed each of the {MAX_ATTEMPTS} times {version} was "
                        f"scored (champions seen: {', '.join(str(name) for name in seen_champions)}), so no verdict "
                        "rests on the current champion; promote it again when the other promotions have finished")


def _settled(registry: "ModelRegistry", version: str, pointer: dict[str, Any], *, margin: float, force: bool,
             write: bool) -> PromotionDecision | None:
    """The decision that needs no gate (already champion, or rolled back away from), else None."""
    champion_name = pointer.get("champion")
    challenger = registry.get(version)
    if champion_name == version:
        auc = challenger.metric("holdout")
        return PromotionDecision(version, True, f"{version} is already the champion", version, version,
                                 auc, auc, margin, decided_at=iso(now()))
    rolled = rolled_back_from(version, pointer)
    if rolled is None or force:
        return None
    # A rollback is a decision: no gate undoes it, only an explicit --force (or a rollback to it).
    why = (f"refused: {version} was rolled back away from at {rolled.get('at')} (champion {version} -> "
           f"{rolled.get('champion_after')}); the gate does not promote it again: return to it with "
           f"'mindpulse rollback --to {version}' or 'mindpulse promote {version} --force --reason ...'")
    decided = iso(now())
    if write:
        registry._write_pointer(pointer, {"at": decided, "event": "refuse", "version": version,
                                          "champion_before": champion_name, "reason": why,
                                          "champion_after": champion_name, "backup_after": pointer.get("backup")})
    return PromotionDecision(version, False, why, champion_name, champion_name, challenger.metric("holdout"),
                             None, margin, decided_at=decided)


def _score(registry: "ModelRegistry", version: str, pointer: dict[str, Any], challenger_scores: gate.ScoreSet, *,
           margin: float, force: bool) -> _Scored:
    """The gate's verdict on ``version`` against the champion of ``pointer`` (no lock held)."""
    champion_name = pointer.get("champion")
    challenger_auc = float(gate.roc_auc(challenger_scores[gate.FIXED].y, challenger_scores[gate.FIXED].p))
    champion_scores = None
    if champion_name is not None:
        try:
            champion_scores = registry.scores(champion_name, registry.recent(version))
        except ModelIntegrityError as exc:
            if not force:
                raise RegistryError(f"the champion cannot be scored, so the gate cannot compare: {exc}") from exc
    best_version, best_auc = registry._best_promoted(pointer)
    if champion_name is not None and champion_scores is None:
        verdict = gate.Verdict(False, "refused: the champion could not be scored", margin=margin)
    else:
        verdict = gate.judge(champion_scores, challenger_scores, margin=margin,
                             best_promoted_auc=best_auc if champion_name else None,
                             groups=registry.holdout_groups() if champion_name else None,
                             group_min_size=registry.group_min_size, group_margin=registry.group_margin)
    return _Scored(champion_name, best_version, best_auc, challenger_auc, verdict)


def _record(registry: "ModelRegistry", version: str, pointer: dict[str, Any], scored: _Scored, *, margin: float,
            force: bool, reason: str | None, hold: dict[str, Any] | None = None) -> PromotionDecision:
    """Write the decision (the challenger's metadata, then the pointer); the caller holds the lock."""
    verdict, champion_name = scored.verdict, scored.champion
    promoted, why = verdict.promoted, verdict.reason
    if force:
        promoted, why = True, f"forced: {reason.strip()} (the gate would have {why})"
    held = hold is not None and promoted and not force
    if held:
        from mindpulse import approval

        promoted, why = False, approval.held_reason(why)
    fixed = verdict.comparison(gate.FIXED)
    recorded = verdict.to_dict()
    decided = now()
    decision = PromotionDecision(
        version=version, promoted=promoted, reason=why, champion_before=champion_name,
        champion_after=version if promoted else champion_name, challenger_auc=scored.challenger_auc,
        champion_auc=fixed.champion_auc if fixed else None, margin=margin, forced=force,
        decided_at=iso(decided), comparisons=recorded["comparisons"],
        best_promoted_auc=verdict.best_promoted_auc, floor=verdict.floor, groups=recorded["groups"],
        largest_gap=recorded["largest_gap"], group_margin=verdict.group_margin, group_min_size=verdict.group_min_size,
    )
    challenger = registry.get(version)
    metadata = dict(challenger.metadata)
    if held:
        # Held for approval: the verdict waits beside the request; the champion does not change.
        metadata["approval"] = {**(hold or {}), "status": "pending", "requested_at": iso(decided),
                                "champion_at_request": champion_name,
                                "gate": {**asdict(decision), "best_promoted_version": scored.best_version}}
        fencing.check(f"hold {version} for approval")
        atomic_write_json(challenger.path / METADATA_FILE, metadata)
        return decision
    metadata["gate"] = {**asdict(decision), "best_promoted_version": scored.best_version}
    if not promoted:
        metadata["refusal_reason"] = why
    fencing.check(f"record the gate's decision on {version}")
    atomic_write_json(challenger.path / METADATA_FILE, metadata)
    event = {"at": iso(decided), "event": ("force_promote" if force else "promote") if promoted else "refuse",
             "version": version, "champion_before": champion_name, "reason": why}
    pointer = dict(pointer)
    if promoted:
        # The one place the backup moves forward: it is the champion this promotion replaces.
        pointer["backup"] = champion_name if champion_name else pointer.get("backup")
        pointer["champion"] = version
        if scored.best_auc is None or scored.challenger_auc > scored.best_auc:
            pointer["best_promoted"] = {"version": version, "roc_auc": scored.challenger_auc}
        elif not pointer.get("best_promoted"):
            pointer["best_promoted"] = {"version": scored.best_version, "roc_auc": scored.best_auc}
    event["champion_after"] = pointer.get("champion")
    event["backup_after"] = pointer.get("backup")
    registry._write_pointer(pointer, event)
    registry._sync_statuses()
    return decision
