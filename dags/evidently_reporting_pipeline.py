"""evidently_reporting_pipeline: Evidently reports on production data every six hours.

Every step is a notebook in ``notebooks/reporting/`` run by Papermill; each run's executed
notebooks, its three HTML reports and ``run_summary.json`` are kept in
``reports/evidently_reporting_pipeline/<run id>/``. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, TriggerRule, task

from mindpulse.dag_ids import REPORTING_DAG_ID
from mindpulse.orchestration import fail_if_any_step_failed, notebook_task, pipeline_dag, run_folder
from mindpulse.settings import Settings

_settings = Settings()

DOC = """
### Evidently reports on production data

1. **check_data_availability**: reference data present and at least `min_rows` recent
   predictions (the last `monitoring_window_days` days, labelled or not); freezes the rows this
   run reports on in the run folder. Too few labels only skip the realized performance.
2. **data_quality_report**, **data_drift_report**, **model_performance_report** (in parallel),
   each an Evidently HTML + JSON in the run folder; skipped when data is missing. Drift is the
   retrain trigger's own measure, against a sample of the champion's training data that holds
   none of the current rows (frozen in the run folder by the first report that reads it). The
   performance report measures the labelled predictions and estimates (CBPE) the unlabelled
   ones, per model version.
   **clean_up_reports** (always, beside the reports: it never touches a run in progress): keep
   the newest `reports_keep` runs of each outcome that may be deleted.
3. **send_summary** (always): `run_summary.json` and the notification.
   **fail_if_any_step_failed** fails the run if a step failed.
"""

with pipeline_dag(
    REPORTING_DAG_ID,
    schedule="0 */6 * * *",
    description="Data quality, data drift and model performance reports on production data",
    doc_md=DOC,
    tags=("monitoring",),
    params={
        "min_rows": Param(_settings.drift_min_rows, type="integer", minimum=1,
                          description="Production rows needed to report (fewer make drift figures noise)."),
        "feature_drift_threshold": Param(_settings.feature_drift_threshold, type="number", minimum=0, maximum=1,
                                         description="Share of the 13 model features that drifted, above which the report says drift (the retrain trigger's rule)."),
        "prediction_drift_threshold": Param(_settings.prediction_drift_threshold, type="number", minimum=0,
                                            description="Drift score of the predicted probability at or above which the report says drift (the retrain trigger's rule)."),
        "keep": Param(_settings.reports_keep, type="integer", minimum=1, description="Report runs kept."),
    },
) as dag:
    check_data_availability = notebook_task(
        "check_data_availability", "reporting/01_check_data_availability.ipynb",
        parameters={"min_rows": "{{ params.min_rows }}"},
    )

    @task.short_circuit(task_id="decide_reports", ignore_downstream_trigger_rules=False)
    def decide_reports(run_id: str | None = None, dag: Any = None) -> bool:
        """Report only when the availability check found enough data."""
        from mindpulse import pipeline

        return pipeline.decide_reports(run_folder(dag.dag_id, run_id))

    reports = [
        notebook_task("data_quality_report", "reporting/02_data_quality_report.ipynb"),
        notebook_task("data_drift_report", "reporting/03_data_drift_report.ipynb",
                      parameters={"feature_drift_threshold": "{{ params.feature_drift_threshold }}",
                                  "prediction_drift_threshold": "{{ params.prediction_drift_threshold }}"}),
        notebook_task("model_performance_report", "reporting/04_model_performance_report.ipynb"),
    ]
    clean_up_reports = notebook_task(
        "clean_up_reports", "reporting/05_clean_up_reports.ipynb",
        parameters={"keep": "{{ params.keep }}", "commit": True},  # run by hand, it only previews
        trigger_rule=TriggerRule.ALL_DONE,
    )
    send_summary = notebook_task("send_summary", "reporting/06_send_summary.ipynb", trigger_rule=TriggerRule.ALL_DONE)

    check_data_availability >> decide_reports() >> reports >> send_summary
    # Old runs are cleaned up beside the reports, not after them: one step less to wait for.
    check_data_availability >> clean_up_reports >> send_summary
    fail_if_any_step_failed(dag)
