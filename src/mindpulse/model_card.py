"""The model card of a registered version: what it is for, what it learned from, how good it is
(overall and per group), what the gate decided and why, and what it cannot do.

Two files in the version's folder, written atomically and again whenever the version's status
changes (cheaply: the figures that need the model are reused while the model, the holdout and
the group settings are the same):

    model_card.json   the record, checked against :class:`ModelCard` (``schema_version``)
    model_card.html   the same, for people: one self-contained page (inline CSS, the
                      calibration curve as inline SVG), loading nothing from anywhere

The card is built only from what the registry holds: the version's metadata (metrics,
parameters, lineage, the gate's verdict, seed, code version), its model (scored on the fixed
holdout and on its recent slice), and the fixed holdout. The training rows themselves are not
kept with a version, so their population by group is taken when the card is first written at
registration (``training=``), from the reference file when the version was trained on it
alone, and otherwise said to be not recorded. Layout and sections follow Google's Model Card
Toolkit and Hugging Face's model cards.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mindpulse import contract as c
from mindpulse import gate
from mindpulse.card_schema import (CALIBRATION_BINS, CARD_HTML, CARD_JSON, HELP, INTENDED_USE, KNOWN_LIMITS, LEVEL,
                                   NOT_FOR, SCHEMA_VERSION, Approval, Basis, Calibration, CalibrationBin, Comparison,
                                   Estimate, Groups, Holdout, ModelCard, Population, PopulationGroup, Provenance,
                                   Quality, Threshold, TrainingData)
from mindpulse.groups import CONFIDENCE, RESAMPLES, auc_interval, group_labels, group_metrics

__all__ = ["CARD_HTML", "CARD_JSON", "SCHEMA_VERSION", "ModelCard", "build_card", "read_card", "render_html",
           "try_write_card", "write_card"]

# --- building ---------------------------------------------------------------------------------

def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


def population(frame: pd.DataFrame, extra: Iterable[str] = ()) -> Population:
    """Rows per group of every attribute, with each group's share and depression rate."""
    labels = group_labels(frame.reset_index(drop=True), extra)
    y = frame[c.TARGET].astype(float).to_numpy() if c.TARGET in frame.columns else None
    groups = []
    for attribute in labels.columns:
        column = labels[attribute].to_numpy()
        for value in sorted(set(column)):
            mask = column == value
            rate = float(np.nanmean(y[mask])) if y is not None and mask.any() else None
            groups.append(PopulationGroup(attribute=attribute, group=str(value), rows=int(mask.sum()),
                                          share=float(mask.mean()), depression_rate=_finite(rate)))
    return Population(rows=len(frame), groups=groups)


def _cv_estimate(cv: dict[str, Any]) -> Estimate:
    selected = cv.get("selected") or {}
    best = (cv.get("candidates") or {}).get(cv.get("best")) or {}
    mean, std = (best.get("mean") or {}).get("roc_auc"), (best.get("std") or {}).get("roc_auc")
    folds = int(cv.get("folds") or 0)
    interval = None
    if mean is not None and std is not None and folds >= 2:
        from scipy.stats import t

        # np.std over the folds is the population spread: the standard error is std / sqrt(folds - 1).
        half = float(t.ppf(0.5 + CONFIDENCE / 2, folds - 1)) * float(std) / math.sqrt(folds - 1)
        interval = [max(0.0, float(mean) - half), min(1.0, float(mean) + half)]
    return Estimate(roc_auc=_finite(selected.get("roc_auc")), interval=interval, rows=selected.get("rows") or cv.get("rows"),
                    positives=None,
                    how=(f"out of fold over {folds} stratified folds (the chosen, calibrated model); the interval is "
                         f"the {LEVEL} t interval of the {folds} folds' ROC-AUCs" if interval else
                         "out of fold (no per-fold spread recorded)"))


def _estimate(y: np.ndarray, p: np.ndarray, *, seed: int, how: str) -> Estimate:
    both = len(np.unique(y)) == 2
    return Estimate(roc_auc=float(gate.roc_auc(y, p)) if both else None,
                    interval=list(auc_interval(y, p, seed=seed)) if both else None,
                    rows=int(len(y)), positives=int(np.sum(y)), how=how)


def _calibration(y: np.ndarray, p: np.ndarray, method: str | None) -> Calibration:
    """Observed depression rate against mean probability in equal-count bins (as the training notebook draws it)."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, CALIBRATION_BINS + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    bins = [CalibrationBin(mean_probability=float(p[which == k].mean()), observed_rate=float(y[which == k].mean()),
                           rows=int((which == k).sum())) for k in np.unique(which)]
    gap = float(np.mean([abs(b.mean_probability - b.observed_rate) for b in bins])) if bins else None
    return Calibration(method=method, brier=float(np.mean((p - y) ** 2)) if len(y) else None, mean_gap=gap, bins=bins)


def _threshold(y: np.ndarray, p: np.ndarray, threshold: float, method: str | None) -> Threshold:
    flagged = p >= threshold
    tp, fn = int((flagged & (y == 1)).sum()), int((~flagged & (y == 1)).sum())
    tn, fp = int((~flagged & (y == 0)).sum()), int((flagged & (y == 0)).sum())
    return Threshold(value=float(threshold), method=method, sensitivity=tp / (tp + fn) if tp + fn else None,
                     specificity=tn / (tn + fp) if tn + fp else None, true_positives=tp, false_negatives=fn,
                     true_negatives=tn, false_positives=fp)


def _comparison(meta: dict[str, Any]) -> Comparison:
    verdict = meta.get("gate")
    if not verdict:
        return Comparison(gated=False, promoted=None, forced=False, verdict="not through the gate yet (a candidate)",
                          champion_before=None, decided_at=None, margin=None, rule=None, best_promoted_auc=None,
                          floor=None, slices=[], groups=None, largest_gap=None,
                          groups_note="not recorded: the version has not been through the gate")
    groups = verdict.get("groups")
    return Comparison(
        gated=True, promoted=bool(verdict.get("promoted")), forced=bool(verdict.get("forced")),
        verdict=gate.in_words(bool(verdict.get("promoted")), str(verdict.get("reason") or "")),
        champion_before=verdict.get("champion_before"), decided_at=verdict.get("decided_at"),
        margin=_finite(verdict.get("margin")), rule=verdict.get("rule"),
        best_promoted_auc=_finite(verdict.get("best_promoted_auc")), floor=_finite(verdict.get("floor")),
        slices=list(verdict.get("comparisons") or []), groups=list(groups) if groups is not None else None,
        largest_gap=verdict.get("largest_gap"),
        groups_note=("" if groups is not None else
                     "not recorded: the gate compared no groups when this version was judged"))


def _training_population(registry: Any, version: Any, training: pd.DataFrame | None, extra: list[str],
                         previous: ModelCard | None) -> tuple[Population | None, str]:
    meta = version.metadata
    if training is not None:
        return population(training, extra), "the rows the model was trained on (the fixed holdout left out)"
    if (previous is not None and previous.training_data.population is not None
            and previous.basis.group_columns == extra):
        return previous.training_data.population, previous.training_data.population_note
    lineage = meta.get("lineage") or {}
    reference = (lineage.get("reference") or {}).get("path")
    if reference and not [s for s in lineage.get("snapshots") or [] if s.get("rows")] and not lineage.get("extra"):
        from mindpulse.data import frame_sha256, read_canonical

        path = Path(reference)
        if path.is_file():
            try:
                rows = registry.exclude_holdout(read_canonical(path).reindex(columns=list(c.CANONICAL_COLUMNS)))
            except Exception:  # an unreadable file: the population is then not recorded, said below
                rows = None
            if rows is not None and frame_sha256(rows) == (meta.get("data") or {}).get("sha256"):
                return population(rows, extra), "the reference rows the model was trained on (checked by sha256)"
    return None, ("not recorded: the training rows are not kept with a version, and they could not be rebuilt "
                  "and checked against the recorded sha256")


def _previous(path: Path) -> ModelCard | None:
    try:
        return ModelCard.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_card(registry: Any, version: str, settings: Any = None, *, training: pd.DataFrame | None = None,
               resamples: int = RESAMPLES) -> ModelCard:
    """The card of ``version`` from what the registry holds (the figures of an earlier card are reused
    when its basis is the same)."""
    from mindpulse.data import frame_sha256
    from mindpulse.evaluation import labels_of
    from mindpulse.lineage import describe
    from mindpulse.settings import get_settings

    settings = settings or get_settings()
    target = registry.get(version)
    meta = target.metadata
    extra = list(settings.group_columns)
    recorded_seed = (meta.get("parameters") or {}).get("seed")
    seed = int(recorded_seed or 0)  # the bootstrap's seed; the card records the training's, or none
    recent_record = meta.get("recent_holdout") or {}
    basis = Basis(model_sha256=meta.get("model_sha256"), holdout_sha256=meta.get("holdout_sha256"),
                  recent_sha256=recent_record.get("sha256"), group_columns=extra,
                  group_min_size=int(settings.group_min_size), resamples=int(resamples), seed=seed)
    previous = _previous(target.path / CARD_JSON)
    model_info = meta.get("model") or {}
    if previous is not None and previous.basis == basis:
        quality, groups, holdout_part = previous.quality, previous.groups, previous.holdout
    else:
        holdout = registry.holdout()
        if holdout is None:
            raise ValueError(f"{registry.holdout_path}: no fixed holdout; a model card scores the version on it")
        model = registry.load_model(version)
        y, p = labels_of(holdout), np.asarray(model.predict_proba(holdout), dtype=float)
        recent = registry.recent(version)
        recent_estimate = None
        if recent is not None and len(recent):
            recent_estimate = _estimate(labels_of(recent), np.asarray(model.predict_proba(recent), dtype=float),
                                        seed=seed, how=f"the version's recent production slice (rows held out of its "
                                                       f"training); {LEVEL} stratified bootstrap interval")
        quality = Quality(
            cv=_cv_estimate(meta.get("cv") or {}),
            fixed_holdout=_estimate(y, p, seed=seed, how=f"the fixed holdout (never trained on); {LEVEL} "
                                                         f"stratified bootstrap interval, {resamples} resamples"),
            recent=recent_estimate,
            calibration=_calibration(y, p, model_info.get("calibration")),
            threshold=_threshold(y, p, float(model.threshold), model_info.get("threshold_method")),
        )
        report = group_metrics(holdout, y, p, float(model.threshold), extra=extra,
                               min_size=int(settings.group_min_size), seed=seed, resamples=resamples)
        groups = Groups.model_validate(report.to_dict())
        holdout_meta = _read_json(registry.holdout_meta_path)
        holdout_part = Holdout(rows=len(holdout), positives=int(y.sum()),
                               sha256=holdout_meta.get("sha256") or frame_sha256(holdout),
                               drawn_at=holdout_meta.get("created_at"), population=population(holdout, extra))
    data = meta.get("data") or {}
    lineage = meta.get("lineage") or {}
    rows, rate = data.get("rows"), _finite(data.get("positive_rate"))
    positives = int(round(rows * rate)) if rows is not None and rate is not None else None
    training_population, note = _training_population(registry, target, training, extra, previous)
    return ModelCard(
        version=target.version, status=target.status, created_at=target.created_at,
        intended_use=INTENDED_USE, not_for=list(NOT_FOR), help=HELP,
        training_data=TrainingData(
            source=data.get("source"), rows=rows, rows_offered=data.get("rows_offered"),
            holdout_rows_excluded=data.get("holdout_rows_excluded"), positives=positives,
            negatives=rows - positives if positives is not None else None, positive_rate=rate,
            sha256=data.get("sha256"), reference=lineage.get("reference"),
            snapshots=[s for s in lineage.get("snapshots") or []],
            quarantined=list(lineage.get("quarantined") or []),
            window_days=(lineage.get("window") or {}).get("days"),
            recent_rows=recent_record.get("rows"), trained_at=target.created_at,
            lineage=describe(lineage), population=training_population, population_note=note,
        ),
        holdout=holdout_part, quality=quality, groups=groups, comparison=_comparison(meta),
        approval=_approval(meta),
        known_limits=list(KNOWN_LIMITS),
        provenance=Provenance(seed=None if recorded_seed is None else int(recorded_seed), model=model_info.get("name"), calibration=model_info.get("calibration"),
                              parameters=(meta.get("parameters") or {}).get("estimator") or {},
                              model_sha256=meta.get("model_sha256"), code=meta.get("code") or {}),
        basis=basis,
    )


def _approval(meta: dict[str, Any]) -> Approval | None:
    approval = meta.get("approval")
    if not isinstance(approval, dict) or not approval:
        return None
    return Approval(**{k: (None if approval.get(k) is None else str(approval.get(k))) for k in ("status", "by", "comment", "at")})


def _out_of_date(card: ModelCard | None, version: Any, settings: Any = None) -> bool:
    """Does the card miss, or record another status or approval than the registry's (or other group settings)?"""
    if card is None or card.status != version.status or card.approval != _approval(version.metadata):
        return True
    return settings is not None and (card.basis.group_columns != list(settings.group_columns)
                                     or card.basis.group_min_size != int(settings.group_min_size))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# --- writing ----------------------------------------------------------------------------------

def render_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page (every value escaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("mindpulse", "templates"),
                              autoescape=select_autoescape(default=True, default_for_string=True),
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(auc=_auc, signed=_signed, pct=_pct, count=_count, num=_num)
    return environment.get_template("model_card.html.j2").render(card=card, plot=_calibration_plot(card.quality.calibration))


def _auc(value: Any) -> str:
    from mindpulse.figures import format_auc

    return format_auc(value) or "–"


def _signed(value: Any) -> str:
    """A difference of ROC-AUCs: four decimals with its sign."""
    return "–" if value is None else f"{float(value):+.4f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f} %"


def _count(value: Any) -> str:
    from mindpulse.figures import format_count

    return format_count(value)


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _calibration_plot(calibration: Calibration, size: int = 320, pad: int = 40) -> dict[str, Any]:
    """Coordinates of the reliability curve in an SVG of ``size`` pixels (the template draws it)."""
    span = size - 2 * pad

    def x(value: float) -> float:
        return round(pad + span * value, 1)

    def y(value: float) -> float:
        return round(size - pad - span * value, 1)

    points = [(x(b.mean_probability), y(b.observed_rate), b) for b in calibration.bins]
    ticks = [(x(v), y(v), f"{v:.1f}") for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    return {"size": size, "pad": pad, "low": x(0), "high": x(1), "points": points, "ticks": ticks,
            "path": " ".join(f"{px},{py}" for px, py, _ in points)}


def card_paths(registry: Any, version: str) -> dict[str, Path]:
    folder = registry.get(version).path
    return {"json": folder / CARD_JSON, "html": folder / CARD_HTML}


def write_card(registry: Any, version: str, settings: Any = None, *, training: pd.DataFrame | None = None) -> dict[str, Path]:
    """Build, check and write ``version``'s card (JSON and HTML, atomically); returns their paths.

    Idempotent: the same registry gives the same files, and files already holding that content
    are left as they are. Cheap when called again after a change of status (a promotion, a
    rollback, an approval): the figures that need the model are reused.
    """
    from mindpulse.io import atomic_write_text

    card = build_card(registry, version, settings, training=training)
    ModelCard.model_validate(card.model_dump())  # the record as written must read back
    paths = card_paths(registry, version)
    text = json.dumps(card.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    page = render_html(card)
    if not paths["json"].parent.is_dir():  # pruned meanwhile: never recreate a version's folder with a card alone
        raise FileNotFoundError(f"{paths['json'].parent}: the folder of {version} is gone; no card written")
    for path, content in ((paths["json"], text), (paths["html"], page)):
        try:
            same = path.read_text(encoding="utf-8") == content
        except OSError:
            same = False
        if not same:
            atomic_write_text(path, content)
    return paths


def try_write_card(registry: Any, version: str, *, training: pd.DataFrame | None = None,
                   progress: Callable[[str], None] | None = None, settings: Any = None) -> dict[str, Path] | None:
    """:func:`write_card`, then the cards of the other versions whose status changed; a failure is said,
    not raised: the version is registered and judged already, and its card can be written again
    with ``mindpulse models card VERSION``."""
    say = progress or (lambda message: None)
    try:
        paths = write_card(registry, version, settings, training=training)
        refresh_cards(registry, settings, skip=(version,))
    except Exception as exc:  # the registration and the gate's decision stand either way
        say(f"Model card of {version} not written: {exc}")
        return None
    say(f"Model card: {paths['html']}")
    return paths


def refresh_cards(registry: Any, settings: Any = None, *, skip: Iterable[str] = ()) -> list[str]:
    """Write again the cards whose recorded status or approval differ from the registry's; returns those versions."""
    skipped = set(skip)
    changed = []
    for version in registry.versions():
        if version.version in skipped:
            continue
        card = _previous(version.path / CARD_JSON)
        if card is not None and _out_of_date(card, version):
            write_card(registry, version.version, settings)
            changed.append(version.version)
    return changed


def read_card(registry: Any, version: str, settings: Any = None) -> dict[str, Path]:
    """The paths of ``version``'s card, written first if it is missing or out of date (status, approval)."""
    paths = card_paths(registry, version)
    from mindpulse.settings import get_settings

    settings = settings or get_settings()
    if not paths["html"].is_file() or _out_of_date(_previous(paths["json"]), registry.get(version), settings):
        return write_card(registry, version, settings)
    return paths
