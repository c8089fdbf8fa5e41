"""Drift as both DAGs measure it: the reporting run's drift report and the retrain run's drift trigger
call :func:`measure_drift`, on the same rows (:func:`~mindpulse.pipeline.sources.monitored_predictions`:
the recent logged predictions, labelled or not), against the same baseline
(:func:`~mindpulse.pipeline.sources.drift_baseline`: the champion's training data, none of it a
current row), with the same decision (:mod:`mindpulse.monitoring.drift`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mindpulse.pipeline.records import Run, json_ready, relative_to_run
from mindpulse.pipeline.sources import SCORING_KEYS, drift_inputs, monitored_predictions


@dataclass
class DriftMeasure:
    """One run's drift decision (the report's JSON summary), its HTML, the baseline and the current rows."""

    summary: dict[str, Any]
    html: str | None
    baseline: dict[str, Any]
    current: dict[str, Any]
    rows: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def outputs(self) -> dict[str, Any]:
        """The figures both steps glue, under the same names."""
        s = self.summary
        measured = s.get("status") not in (None, "not_enough_data")
        prediction = (s.get("prediction_drift") or {}) if measured else {}
        label = (s.get("label_drift") or {}) if measured else {}
        score = prediction.get("score")
        out = {
            "drift_status": s.get("status"), "n_rows": s.get("n_rows"), "reason": s.get("reason"),
            "labelled_rows": self.current.get("labelled_rows"), "unlabelled_rows": self.current.get("unlabelled_rows"),
            "feature_drift_share": s.get("share") if measured else None,
            "feature_drift_threshold": s.get("threshold"),
            "feature_drifted": (s["share"] > s["threshold"]) if measured and s.get("share") is not None else None,
            "features_drifted": list(s.get("drifted_columns") or []) if measured else [],
            "n_features_drifted": int(s.get("n_drifted") or 0) if measured else 0,
            "n_features": s.get("n_features"),
            "prediction_drift_score": score, "prediction_drift_threshold": s.get("prediction_threshold"),
            "prediction_drifted": None if score is None else bool(prediction.get("drifted")),
            "prediction_label_drift_score": prediction.get("label_score"),
            "label_drift_score": label.get("score"), "label_drifted": label.get("drifted"),
            "report_html": self.html, "reference": self.baseline, "current": self.current,
        }
        out.update({key: self.baseline.get(key) for key in SCORING_KEYS})
        return json_ready(out)

    def table(self) -> pd.DataFrame:
        out = self.outputs()
        return pd.DataFrame([{k: out.get(k) for k in (
            "drift_status", "n_rows", "labelled_rows", "unlabelled_rows", "feature_drift_share",
            "feature_drift_threshold", "n_features_drifted", "n_features", "prediction_drift_score",
            "prediction_drift_threshold", "prediction_drifted", "label_drift_score")}])

    def message(self) -> str:
        from mindpulse.monitoring.drift import DriftDecision

        s = self.summary
        current = (f"{self.current.get('rows')} predictions of the last {self.current.get('window_days')} days "
                   f"({self.current.get('labelled_rows')} labelled, {self.current.get('unlabelled_rows')} not)")
        text = f"Current rows: {current}.\n{baseline_sentence(self.baseline)}\n"
        if s.get("status") in (None, "not_enough_data"):
            return text + str(s.get("reason"))
        fields = {k: s.get(k) for k in DriftDecision.__dataclass_fields__ if k in s}
        fields["drifted_columns"] = tuple(fields.get("drifted_columns") or ())
        fields["compared_columns"] = tuple(fields.get("compared_columns") or ())
        lines = DriftDecision(**fields).lines()
        return text + f"Status: {s['status']}.\n" + "\n".join(lines)


def baseline_sentence(baseline: dict[str, Any]) -> str:
    """The baseline in one sentence: source, rows, sha256 and the model it belongs to."""
    if not baseline:
        return "Baseline: not built."
    left_out = baseline.get("current_rows_left_out") or 0
    from mindpulse.figures import format_count

    return (f"Baseline: {baseline.get('source')}, {format_count(baseline.get('rows'))} rows"
            + (f" sampled from {format_count(baseline.get('population_rows'))}"
               if (baseline.get("population_rows") or 0) > (baseline.get("rows") or 0) else "")
            + f" (seed {baseline.get('seed')}), sha256 {str(baseline.get('sha256'))[:12]}"
            + (f", champion {baseline['model_version']}" if baseline.get("model_version") else "")
            + (f"; {format_count(left_out)} current rows the champion trained on were left out of it" if left_out else "")
            + ".")


def measure_drift(run: Run, *, feature_threshold: float | None = None, prediction_threshold: float | None = None,
                  min_rows: int | None = None) -> DriftMeasure:
    """The drift of the run's current rows against its baseline, with the Evidently report in the run folder."""
    from mindpulse import monitoring
    from mindpulse.io import atomic_write_json

    settings = run.settings
    frame, current = monitored_predictions(settings, run.dir, context=run)
    reference, scored, baseline = drift_inputs(settings, frame, run.dir, context=run)
    if scored.empty or reference.empty:  # nothing to show; the decision alone needs no Evidently run
        decision = monitoring.detect_drift(reference, scored, threshold=feature_threshold,
                                           prediction_threshold=prediction_threshold, min_rows=min_rows,
                                           settings=settings)
        return DriftMeasure(json_ready(decision.to_dict()), None, baseline, current, frame)
    report = monitoring.data_drift_report(reference, scored, run.dir, threshold=feature_threshold,
                                          prediction_threshold=prediction_threshold, min_rows=min_rows,
                                          settings=settings)
    summary = dict(report.summary)
    summary["baseline"] = json_ready(baseline)
    summary["current"] = json_ready(current)
    summary.update(json_ready({key: baseline.get(key) for key in SCORING_KEYS}))
    atomic_write_json(report.json_path, json_ready(summary))
    return DriftMeasure(summary, relative_to_run(report.html_path, run.dir), baseline, current, frame)
