"""ml_retrain_pipeline: retrain the depression-risk model when production data asks for it.

Every step is a notebook in ``notebooks/retrain/`` run by Papermill; the executed notebooks, the
drift report and ``run_summary.json`` of each run are kept in
``reports/ml_retrain_pipeline/<run id>/``. Nothing heavy is imported here: the steps import
pandas, scikit-learn and Evidently in their own kernels.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mindpulse.dag_ids import RETRAIN_DAG_ID
from mindpulse.orchestration import fail_if_any_step_failed, notebook_task, pipeline_dag, run_folder
from mindpulse.settings import Settings

_settings = Settings()

DOC = """
### Retrain the model when production data asks for it

0. **sweep_stale_claims**: a snapshot claimed longer ago than the run timeout by a run that
   died is archived (the registry holds the model that run trained on it) or released;
   logged and notified.
1. **check_production_data** and **detect_drift** (in parallel): labelled production rows
   waiting for a retrain; on the recent predictions, labelled or not, the feature drift share
   (of the 13 model features, how many drifted from the champion's training data) and the prediction drift score (of the champion's
   predicted probability), with the Evidently report in the run folder.
2. **decide_retrain**: goes on when rows ≥ `min_rows`, OR drift (feature drift share >
   `feature_drift_threshold` or prediction drift score ≥ `prediction_drift_threshold`) with at
   least `outcome_request_rows` new labelled rows, OR the run's conf says `{"force": true}`.
   Drift without new outcomes asks for the outcomes of a stratified sample of the drifted
   cohort (notification, Feedback page) instead of retraining a copy of the champion. Otherwise every later step is skipped and no
   model, data or archive changes. A forced run goes on even when drift could not be
   measured (too few rows, or the drift step failed); the reason is in `run_summary.json`.
3. **backup_model** and **merge_training_data** (snapshot of the production rows, claimed for
   this run), then **train_and_gate**: train a challenger on reference + production (no
   snapshot in quarantine) and put it through the promotion gate: promoted unless it is shown
   worse than the champion by more than the margin, or falls more than the margin below the
   best model ever promoted. Nothing is trained when a registered version has the same data
   and settings.
4. **archive_production_data**: export the snapshot and mark its rows as used (they were trained
   on, whatever becomes of the model).
   With `MINDPULSE_PROMOTION_APPROVAL=required`, a challenger that passed the gate is held, not
   promoted, and beside the archive: **await_approval** (Airflow's `ApprovalOperator`, in
   Required Actions; skipped when nothing waits) asks an admin to Approve or Reject with a
   comment, for at most `approval_timeout_hours` (a run parameter, default the setting); **apply_approval** (always) promotes an
   approved challenger through the gate again, against the champion of that moment, or records
   the refusal ("rejected by NAME: COMMENT", "not approved within N h").
5. **notify** (always): write `run_summary.json`, release the snapshot if training did not
   finish, send the notification. **fail_if_any_step_failed** fails the run if a step failed.
"""



class PromotionApproval(ApprovalOperator):
    """Asks an admin to approve this run's held challenger; skipped when none waits.

    The subject and body (version, the gate's verdict, the model card) are written when the task
    runs. A rejection is an answer too: ``apply_approval`` records it as a refusal, so, unlike the
    plain ApprovalOperator, nothing after this task is skipped on "Reject". A request not answered
    within the timeout takes its default, "Reject", with no responding user: not approved.
    """

    def execute(self, context: Any) -> Any:
        from mindpulse import pipeline
        from mindpulse.pipeline.approval import approval_request

        dag_id, run_id = context["dag"].dag_id, context["run_id"]
        run = pipeline.open_run(dag_id, run_id, run_folder(dag_id, run_id))
        request = approval_request(run, timeout_hours=float(context["params"]["approval_timeout_hours"]))
        if request is None:
            raise AirflowSkipException("no challenger of this run waits for approval")
        self.subject, self.body = request["subject"], request["body"]
        self.response_timeout = timedelta(hours=float(context["params"]["approval_timeout_hours"]))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return HITLOperator.execute_complete(self, context, event)


with pipeline_dag(
    RETRAIN_DAG_ID,
    schedule="@daily",
    description="Retrain on reference + production data when rows, drift or a forced run call for it",
    doc_md=DOC,
    tags=("retrain",),
    params={
        "force": Param(False, type="boolean", description="Retrain whatever the data says (conf {\"force\": true})."),
        "min_rows": Param(_settings.retrain_min_rows, type="integer", minimum=1,
                          description="Labelled production rows that trigger a retrain."),
        "feature_drift_threshold": Param(_settings.feature_drift_threshold, type="number", minimum=0, maximum=1,
                                         description="Share of the 13 model features that drifted, above which a retrain is triggered."),
        "prediction_drift_threshold": Param(_settings.prediction_drift_threshold, type="number", minimum=0,
                                            description="Drift score of the champion's predicted probability at or above which a retrain is triggered."),
        "seed": Param(_settings.seed, type="integer", description="Seed of the training splits and models."),
        "candidates": Param(None, type=["null", "array"], items={"type": "string"},
                            description="Model families to train (default: all the training module knows)."),
        "approval_timeout_hours": Param(_settings.approval_timeout_hours, type="number", exclusiveMinimum=0,
                                        description="With promotion approval required: hours the request waits for "
                                                    "an answer before the challenger is not approved."),
    },
) as dag:
    @task(task_id="sweep_stale_claims")
    def sweep_stale_claims(run_id: str | None = None, dag: Any = None) -> int:
        """Settle the claims of runs that died: archived when their model was registered, else released."""
        from mindpulse import pipeline

        return pipeline.sweep_before_run(dag.dag_id, run_id, run_folder(dag.dag_id, run_id))

    check_production_data = notebook_task(
        "check_production_data", "retrain/01_check_production_data.ipynb",
        parameters={"min_rows": "{{ params.min_rows }}"},
    )
    detect_drift = notebook_task(
        "detect_drift", "retrain/02_detect_drift.ipynb",
        parameters={"feature_drift_threshold": "{{ params.feature_drift_threshold }}",
                    "prediction_drift_threshold": "{{ params.prediction_drift_threshold }}"},
    )

    # all_done: a forced run goes on when the drift step failed (the decision records why).
    @task.short_circuit(task_id="decide_retrain", ignore_downstream_trigger_rules=False, trigger_rule=TriggerRule.ALL_DONE)
    def decide_retrain(params: dict[str, Any] | None = None, run_id: str | None = None, dag: Any = None) -> bool:
        """Read the glued outputs of the two checks and decide whether this run retrains."""
        from mindpulse import pipeline

        decision = pipeline.decide_retrain(
            run_folder(dag.dag_id, run_id),
            min_rows=params["min_rows"],
            feature_drift_threshold=params["feature_drift_threshold"],
            prediction_drift_threshold=params["prediction_drift_threshold"],
            force=params["force"],
        )
        return decision.proceed

    backup_model = notebook_task("backup_model", "retrain/03_backup_model.ipynb")
    # The steps that change live state do so only with commit=True; run by hand they preview.
    merge_training_data = notebook_task("merge_training_data", "retrain/04_merge_training_data.ipynb",
                                        parameters={"commit": True})
    train_and_gate = notebook_task(
        "train_and_gate", "retrain/05_train_and_gate.ipynb",
        parameters={"seed": "{{ params.seed }}", "candidates": "{{ params.candidates }}", "commit": True},
    )
    archive_production_data = notebook_task("archive_production_data", "retrain/06_archive_production_data.ipynb",
                                            parameters={"commit": True})
    notify = notebook_task(
        "notify", "retrain/07_notify.ipynb",
        parameters={"force": "{{ params.force }}"},
        trigger_rule=TriggerRule.ALL_DONE,
    )

    # The request waits in Airflow (state awaiting_input, no worker slot) for at most the timeout.
    await_approval = PromotionApproval(
        task_id="await_approval",
        subject="Approve the retrained model as champion?",
        defaults=ApprovalOperator.REJECT,
        response_timeout=timedelta(hours=_settings.approval_timeout_hours),
        params={"approver": Param("", type="string", description="The MindPulse account that decides "
                                  "(the dashboard fills it in; empty: the Airflow user who answers)."),
                "comment": Param("", type="string", description="Why: kept with the model version and in the audit trail.")},
    )

    @task(task_id="apply_approval", trigger_rule=TriggerRule.ALL_DONE)
    def apply_approval(params: dict[str, Any] | None = None, run_id: str | None = None, dag: Any = None,
                       ti: Any = None) -> dict[str, Any] | None:
        """Promote the approved challenger, or record the refusal (rejected, timed out, or no answer)."""
        from mindpulse import pipeline
        from mindpulse.pipeline.approval import apply_approval as apply

        run = pipeline.open_run(dag.dag_id, run_id, run_folder(dag.dag_id, run_id))
        response = ti.xcom_pull(task_ids="await_approval")
        record = apply(run, response, timeout_hours=float(params["approval_timeout_hours"]))
        if record is None:
            raise AirflowSkipException("no challenger of this run waited for approval")
        if response is None:
            raise AirflowFailException("the approval request ended without an answer; the challenger was not promoted")
        return record

    gate = decide_retrain()
    sweep_stale_claims() >> [check_production_data, detect_drift] >> gate >> [backup_model, merge_training_data] >> train_and_gate
    train_and_gate >> archive_production_data >> notify
    train_and_gate >> await_approval >> apply_approval() >> notify
    if _settings.promotion_approval == "required":  # a run may wait for its answer that long
        dag.dagrun_timeout += timedelta(hours=_settings.approval_timeout_hours)
    fail_if_any_step_failed(dag)
