"""What each pipeline notebook says and does: one :class:`Step` per notebook in ``notebooks/``.

The words are for an auditor reading an executed notebook: what the step does, in plain words,
what it reads and writes. Rules that live elsewhere (the gate's, drift's, the retrain decision's)
are linked, never restated. The parameters keep the names and defaults the DAGs pass
(``dags/*.py``); the notebooks are written from these by :mod:`mindpulse.notebooks.template`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID

# Links from a notebook in notebooks/<dag folder>/ to the documents that state a rule once.
GATE_RULE = "[the gate's rule](../../docs/architecture.md#the-promotion-gate) ([`mindpulse.gate`](../../src/mindpulse/gate.py))"
DRIFT_RULE = "[the drift rule of `mindpulse.monitoring.drift`](../../src/mindpulse/monitoring/drift.py)"
RETRAIN_DECISION = "[`decide_retrain`](../../dags/ml_retrain_pipeline.py)"
REPORTS_DECISION = "[`decide_reports`](../../dags/evidently_reporting_pipeline.py)"
HAND_RUNS = "[`mindpulse.runs`](../../src/mindpulse/runs.py)"


@dataclass(frozen=True)
class Parameter:
    """One line of the ``parameters`` cell: ``name = default  # comment`` (``default`` is Python source)."""

    name: str
    default: str
    comment: str


@dataclass(frozen=True)
class Commit:
    """A step that changes live state only with ``commit=True`` (the DAG passes it; by hand it previews)."""

    changes: str  # what it does with commit=True: "Changes live data", "Deletes run folders", ...
    preview: str  # what it does instead on its defaults, after "run by hand on its defaults it ..."


COMMIT_PARAMETER = Parameter("commit", "False", "change live state only when True (the DAG passes True); "
                                                "False: preview what would change")


@dataclass(frozen=True)
class Step:
    """One pipeline notebook: its place, its words, its parameters, its calls and its evidence."""

    path: str  # under notebooks/
    dag_id: str
    number: int
    title: str
    about: str  # what the step does, in plain words (markdown)
    inputs: str
    outputs: str
    call: str  # the step's call; ``run`` is the open run
    parameters: tuple[Parameter, ...] = ()
    evidence: str | None = None  # the call that shows the evidence inline (figures, whole tables)
    commit: Commit | None = None
    last: bool = False  # the DAG's last step: it closes the open hand run

    @property
    def all_parameters(self) -> tuple[Parameter, ...]:
        common = (
            Parameter("dag_id", f'"{self.dag_id}"', "the DAG this step belongs to; names the run folder"),
            Parameter("run_id", '""', "Airflow's run id; empty by hand: the DAG's open hand run (see above)"),
            Parameter("run_dir", '""', "the run folder; empty: reports/<dag_id>/<run_id>/ under MINDPULSE_HOME"),
        )
        return common + self.parameters + ((COMMIT_PARAMETER,) if self.commit else ())


_PRODUCTION_WINDOW = ("the recent predictions (the last `MINDPULSE_MONITORING_WINDOW_DAYS` days, "
                      "labelled or not: drift shows before outcomes arrive)")
_BASELINE = ("the baseline, a seeded sample of the champion's training data that holds none of the current rows "
             "(its source, size and sha256 are printed)")

RETRAIN = (
    Step(
        path="retrain/01_check_production_data.ipynb", dag_id=RETRAIN_DAG_ID, number=1,
        title="Check production data",
        about=("Counts the labelled production rows waiting for a retrain (predictions that received feedback and "
               "were not yet used for training), per model version."),
        inputs="the production store (`MINDPULSE_DATABASE_URL`).",
        outputs=f"glued `rows`, `min_rows`, `enough_rows`, `positive_rate`; the gate {RETRAIN_DECISION} reads `rows`.",
        parameters=(Parameter("min_rows", "None", "labelled rows that trigger a retrain; None: MINDPULSE_RETRAIN_MIN_ROWS (1000)"),),
        call="pipeline.check_production_data(run, min_rows=min_rows)",
        evidence='evidence.checks(run, threshold=result.outputs["min_rows"], reporting=False, sentence=result.message)',
    ),
    Step(
        path="retrain/02_detect_drift.ipynb", dag_id=RETRAIN_DAG_ID, number=2,
        title="Detect drift",
        about=(f"Compares {_PRODUCTION_WINDOW} with {_BASELINE}, column by column (Evidently), and measures the two "
               f"drift triggers of a retrain exactly as the reporting run's drift report does, by {DRIFT_RULE}. "
               "Below `MINDPULSE_DRIFT_MIN_ROWS` rows the answer is *not enough data*: drift on small samples is noise."),
        inputs="the reference data, the production store.",
        outputs=("the drift report in the run folder (`data_drift.html`, `data_drift.json`); glued `drift_status`, "
                 "`feature_drift_share`, `prediction_drift_score`, `label_drift_score`, the thresholds, the row counts, "
                 f"`report_html`, `reference`; the gate {RETRAIN_DECISION} reads `drift_status`, `feature_drift_share` "
                 "and `prediction_drift_score`."),
        parameters=(
            Parameter("feature_drift_threshold", "None", "share of the 13 features drifted above which a retrain is "
                                                         "triggered; None: MINDPULSE_FEATURE_DRIFT_THRESHOLD (0.3)"),
            Parameter("prediction_drift_threshold", "None", "drift score of the predicted probability that triggers a "
                                                            "retrain; None: MINDPULSE_PREDICTION_DRIFT_THRESHOLD (0.1)"),
            Parameter("min_rows", "None", "fewer recent predictions give 'not enough data'; None: MINDPULSE_DRIFT_MIN_ROWS (500)"),
        ),
        call=("pipeline.detect_drift(run, feature_threshold=feature_drift_threshold,\n"
              "                               prediction_threshold=prediction_drift_threshold, min_rows=min_rows)"),
        evidence="evidence.drift(run)",
    ),
    Step(
        path="retrain/03_backup_model.ipynb", dag_id=RETRAIN_DAG_ID, number=3,
        title="Back up the current model",
        about=("Shows the champion and its backup: the previous champion, the version a rollback returns to. Changes "
               "nothing: only a promotion moves the backup, so a refused challenger leaves both as they were."),
        inputs="the model registry (`MINDPULSE_ARTIFACTS_DIR`).",
        outputs="glued `champion`, `backup` (model versions, or None before the first champion).",
        call="pipeline.backup_model(run)",
    ),
    Step(
        path="retrain/04_merge_training_data.ipynb", dag_id=RETRAIN_DAG_ID, number=4,
        title="Merge reference and production data",
        commit=Commit("Changes live data", "claims nothing and shows the training set a claim now would give, counted by the "
                                   "same function as a committed run (rows per source, rows held out)"),
        about=("Claims this run's snapshot of the pending labelled production rows and merges it with the reference "
               "data and the archived snapshots (those in quarantine left out). A snapshot is claimed once per run: "
               "a retry gets the same rows, and feedback arriving meanwhile waits for the next run. If training does "
               "not finish, the notify step releases the snapshot."),
        inputs="the reference data, the production store.",
        outputs=("glued `snapshot_id`, `production_rows`, `reference_rows`, `training_rows`, `fitted_rows`, "
                 "`rows_by_source`, `recent_rows`, `quarantined_snapshots`, `positive_rate`."),
        call="pipeline.merge_training_data(run, commit=commit)",
    ),
    Step(
        path="retrain/05_train_and_gate.ipynb", dag_id=RETRAIN_DAG_ID, number=5,
        title="Train and gate the challenger",
        commit=Commit("Changes the registry", "claims, trains, registers and promotes nothing, and shows what a committed run "
                                      "would train on now, counted by the same function"),
        about=("Trains a challenger on all labelled data so far (the reference, every archived production snapshot "
               "and this run's snapshot, each less its recent slice), scores it beside the champion on the same rows, "
               f"and promotes it or refuses it by {GATE_RULE} (with MINDPULSE_PROMOTION_APPROVAL=required, one that passes is held for an admin's approval instead: the DAG's await_approval task). The printed reason gives both ROC-AUCs, the interval and "
               "the decision in words. When a registered version was trained on the same data with the same "
               "settings, nothing is trained and the step names it; a retry gates the version it registered. A "
               "refused challenger stays in the registry, not serving, and the champion's score on each snapshot "
               "shows a batch that does not fit (`mindpulse store quarantine SNAPSHOT --reason ...` keeps it out)."),
        inputs="the reference data, this run's snapshot, the model registry.",
        outputs=("a new model version in the registry; glued `version`, `promoted`, `reason`, `metrics`, "
                 "`champion_before`, `champion_after`, `snapshot_id`, `training_rows`, `rows_by_source`, `same_as` "
                 "(when nothing was trained), `snapshot_scores` (when refused)."),
        parameters=(
            Parameter("seed", "None", "seed of the splits and models; None: MINDPULSE_SEED (42)"),
            Parameter("candidates", "None", 'model families to train, e.g. ["logistic_regression"]; None: all'),
            Parameter("margin", "None", "promotion margin on ROC-AUC; None: MINDPULSE_PROMOTION_MARGIN (0.005)"),
        ),
        call="pipeline.train_and_gate(run, seed=seed, candidates=candidates, margin=margin, commit=commit)",
        evidence="evidence.training(run, result.outputs)",
    ),
    Step(
        path="retrain/06_archive_production_data.ipynb", dag_id=RETRAIN_DAG_ID, number=6,
        title="Archive production data",
        commit=Commit("Changes live data", "archives nothing and says what it would archive"),
        about=("Exports the snapshot this run trained on to the archive folder and marks its rows as used, so the "
               "next retrain waits for new feedback; only once the model trained for this run is in the registry. "
               "Otherwise nothing is archived and the rows stay claimed for a retry (or are released by the notify "
               "step)."),
        inputs="this run's snapshot in the production store, the model registry.",
        outputs="the export in `data/archive/`; glued `archived`, `archive_path`, `rows`, `snapshot_id`, `model_version`.",
        call="pipeline.archive_production_data(run, commit=commit)",
    ),
    Step(
        path="retrain/07_notify.ipynb", dag_id=RETRAIN_DAG_ID, number=7,
        title="Close the run and notify",
        about=("Runs whatever happened before it. Reads the run's executed notebooks, releases a snapshot that "
               "training did not use (a failed run changes no data), writes `run_summary.json` (trigger reasons, "
               "rows, drift, model versions before and after, metrics, outcome: promoted, refused, skipped or "
               "failed) and sends it to the log, the webhook and the e-mail of the settings "
               "(`MINDPULSE_WEBHOOK_URL`, `MINDPULSE_SMTP_HOST`, `MINDPULSE_EMAIL_FROM/TO`)."),
        inputs="the run folder.",
        outputs="`run_summary.json` in the run folder; glued `outcome`, `summary_path`, `notifications`.",
        parameters=(Parameter("force", "False", 'whether the run was forced (conf {"force": true}); recorded when '
                                                "the checks did not finish"),),
        call="pipeline.finish_retrain(run, force=force)",
        evidence="evidence.summary(run)",
        last=True,
    ),
)

REPORTING = (
    Step(
        path="reporting/01_check_data_availability.ipynb", dag_id=REPORTING_DAG_ID, number=1,
        title="Check data availability",
        about=("Checks that the reference data exists and that there are enough recent predictions to report on "
               "(the last `MINDPULSE_MONITORING_WINDOW_DAYS` days, at most `MINDPULSE_MONITORING_MAX_ROWS`, labelled "
               "or not; too few labels skip only the realized performance), and freezes those rows in the run "
               "folder so the three reports of a run describe the same data."),
        inputs="the reference data, the production store.",
        outputs=("`current_data.parquet`; glued `available`, `reference_rows`, `current_rows`, `labelled_rows`, "
                 f"`unlabelled_rows`, `enough_labels`, `min_rows`, `reason`; the gate {REPORTS_DECISION} reads "
                 "`available`."),
        parameters=(Parameter("min_rows", "None", "recent predictions needed to report; None: MINDPULSE_DRIFT_MIN_ROWS (500)"),),
        call="pipeline.check_data_availability(run, min_rows=min_rows)",
        evidence='evidence.checks(run, threshold=result.outputs["min_rows"], reporting=True, sentence=result.message)',
    ),
    Step(
        path="reporting/02_data_quality_report.ipynb", dag_id=REPORTING_DAG_ID, number=2,
        title="Data quality report",
        about=("An Evidently data summary of the run's production rows beside the reference data: missing values, "
               "ranges, categories."),
        inputs="the run's frozen production rows, the reference data.",
        outputs=("`data_quality.html` and `data_quality.json` in the run folder; glued `kind`, `html`, `json`, "
                 "`headline` (the key figures)."),
        call="pipeline.data_quality_report(run)",
        evidence="evidence.quality(run)",
    ),
    Step(
        path="reporting/03_data_drift_report.ipynb", dag_id=REPORTING_DAG_ID, number=3,
        title="Data drift report",
        about=(f"An Evidently drift report of the run's recent predictions against {_BASELINE}, decided by "
               f"{DRIFT_RULE}: the same figures and decision as the retrain run's drift step."),
        inputs="the run's frozen recent predictions, the champion's training data.",
        outputs=("`data_drift.html` and `data_drift.json` in the run folder; glued `kind`, `html`, `json`, `headline`, "
                 "the drift figures (`feature_drift_share`, `prediction_drift_score`, `label_drift_score`, ...) and "
                 "`reference` (the baseline: source, rows, sha256)."),
        parameters=(
            Parameter("feature_drift_threshold", "None", "share of the 13 model features drifted above which it is "
                                                         "drift; None: MINDPULSE_FEATURE_DRIFT_THRESHOLD (0.3)"),
            Parameter("prediction_drift_threshold", "None", "drift score of the predicted probability at or above which "
                                                            "it is drift; None: MINDPULSE_PREDICTION_DRIFT_THRESHOLD (0.1)"),
        ),
        call=("pipeline.data_drift_report(run, threshold=feature_drift_threshold, "
              "prediction_threshold=prediction_drift_threshold)"),
        evidence="evidence.drift(run, pipeline.current_data(run))",
    ),
    Step(
        path="reporting/04_model_performance_report.ipynb", dag_id=REPORTING_DAG_ID, number=4,
        title="Model performance report",
        about=("The realized classification quality (Evidently) of the run's predictions that received feedback, "
               "when there are at least `MINDPULSE_PERFORMANCE_MIN_LABELLED_ROWS` of them (fewer skip this part "
               "alone, and say so), and the CBPE estimate for the unlabelled ones. Every figure names the model "
               "version whose predictions it describes, and its row count."),
        inputs="the run's frozen recent predictions.",
        outputs=("`model_performance.html` and `model_performance.json` in the run folder; glued `kind`, `html`, "
                 "`json`, `headline` (the key figures)."),
        call="pipeline.model_performance_report(run)",
        evidence="evidence.performance(run, pipeline.current_data(run))",
    ),
    Step(
        path="reporting/05_clean_up_reports.ipynb", dag_id=REPORTING_DAG_ID, number=5,
        title="Clean up old reports",
        commit=Commit("Deletes run folders", "lists what it would delete"),
        about="Deletes whole report runs of this DAG beyond the newest `keep` (this run is kept).",
        inputs="`reports/<dag_id>/`.",
        outputs="glued `keep`, `removed` (the deleted run folders).",
        parameters=(Parameter("keep", "None", "report runs kept; None: MINDPULSE_REPORTS_KEEP (10)"),),
        call="pipeline.clean_up_reports(run, keep=keep, commit=commit)",
    ),
    Step(
        path="reporting/06_send_summary.ipynb", dag_id=REPORTING_DAG_ID, number=6,
        title="Send the summary",
        about=("Runs whatever happened before it. Writes `run_summary.json` (rows, drift, report files, outcome: "
               "reported, skipped or failed) and sends it to the log, the webhook and the e-mail of the settings."),
        inputs="the run folder.",
        outputs="`run_summary.json`; glued `outcome`, `summary_path`, `notifications`.",
        call="pipeline.finish_reporting(run)",
        evidence="evidence.summary(run)",
        last=True,
    ),
)

STEPS = RETRAIN + REPORTING
