"""Monitoring with Evidently 0.7: data quality, data drift and model performance reports, the drift
decision of the retrain trigger, and the index and retention of report runs.

Importing this package does not import Evidently (~3 s); each report imports it when it runs.

* :func:`data_quality_report`, :func:`data_drift_report`, :func:`model_performance_report` write
  ``<kind>.html`` and ``<kind>.json`` into a folder the caller chooses -> :class:`ReportResult`.
* :func:`detect_drift` -> :class:`DriftDecision` (``drift`` / ``no_drift`` / ``not_enough_data``).
* :func:`list_report_runs` and :func:`prune_report_runs` read and prune ``reports/<dag>/<run>/``.
"""

from mindpulse.monitoring.drift import DriftDecision, detect_drift
from mindpulse.monitoring.index import list_report_runs, prune_report_runs, run_folders
from mindpulse.monitoring.performance import AGE_BANDS, age_band
from mindpulse.monitoring.reports import (
    KINDS,
    ReportResult,
    data_drift_report,
    data_quality_report,
    model_performance_report,
)

__all__ = [
    "AGE_BANDS",
    "KINDS",
    "DriftDecision",
    "ReportResult",
    "age_band",
    "data_drift_report",
    "data_quality_report",
    "detect_drift",
    "list_report_runs",
    "model_performance_report",
    "prune_report_runs",
    "run_folders",
]
