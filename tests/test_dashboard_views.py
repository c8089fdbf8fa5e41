"""The dashboard's views, built on real stores and driven by setting widget values (no browser)."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pandas as pd
import pytest

from mindpulse import contract as c
from mindpulse.data import read_canonical
from mindpulse.settings import Settings

from dashboard.stores import DashboardStore, form_defaults, production_store
from dashboard.stores.predict import _typical_value, form_fields
from dashboard.views import FeedbackView, ModelsView, PipelinesView, PredictView, ReportsView
from dashboard_support import PreparedHome, click


def in_thread(action):
    """Run ``action`` in a fresh thread, as ``click`` does: what it schedules with
    ``pn.state.execute`` runs to the end there, whatever loop the main thread holds."""
    results: list = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(action())
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the action did not finish"
    if errors:
        raise errors[0]
    return results[0]


@pytest.fixture
def store(prepared: PreparedHome) -> DashboardStore:
    return DashboardStore.from_settings(prepared.settings, static_url="/reports")


# --- Predict ------------------------------------------------------------------------------------

def test_form_has_every_feature_with_its_choices_and_typical_defaults(store: DashboardStore) -> None:
    view = PredictView(store=store.predictions)
    assert list(view.inputs) == list(c.FEATURES)
    assert view.inputs["degree"].options == list(c.FIELD_BY_NAME["degree"].choices)
    reference = pd.read_csv(store.settings.reference_path)
    not_depressed = reference[reference[c.TARGET] == 0]
    assert view.inputs["age"].value == pytest.approx(not_depressed["age"].median())
    assert view.inputs["suicidal_thoughts"].value == not_depressed["suicidal_thoughts"].mode()[0] == "No"
    assert reference["suicidal_thoughts"].mode()[0] == "Yes"  # the whole survey's most frequent answer


def test_the_starting_student_scores_below_half(store: DashboardStore) -> None:
    """The form starts from a plausible student, not one the model already flags as high risk."""
    outcome = store.predictions.predict(store.predictions.defaults())
    assert outcome.probability < 0.5, outcome
    reference = read_canonical(store.settings.reference_path)
    everyone = {spec.name: _typical_value(spec, reference[spec.name]) for spec in form_fields()}
    assert store.predictions.predict(everyone).probability > 0.5  # what all rows' typical answers scored


def test_predict_with_valid_input_shows_a_probability_and_logs_the_prediction(store: DashboardStore, prepared: PreparedHome) -> None:
    view = PredictView(store=store.predictions)
    view.inputs["age"].value = 21
    view.inputs["academic_pressure"].value = 5
    click(view.predict_button)

    outcome = store.predictions.last
    assert outcome is not None, view.status.object
    assert view.result_card.visible and "Estimated probability of depression" in view.result.object
    assert f"#{outcome.prediction_id}" in view.result.object and outcome.model_version == prepared.champion
    assert 0.0 <= outcome.probability <= 1.0 and outcome.factors
    logged = production_store(store.settings).recent_predictions(5)
    row = logged[logged["prediction_id"] == outcome.prediction_id]
    assert len(row) == 1
    assert float(row["probability"].iloc[0]) == pytest.approx(outcome.probability)
    assert float(row["age"].iloc[0]) == 21.0


def test_predict_runs_in_the_click_and_a_second_press_logs_nothing(store: DashboardStore) -> None:
    """The prediction is made in the click itself, so every update is the click's own (see
    ``PredictView.predict``); a second press on the same answers gives the same prediction back."""
    import inspect

    view = PredictView(store=store.predictions)
    assert not inspect.iscoroutinefunction(view._on_predict)
    before = len(production_store(store.settings).recent_predictions(1000))
    click(view.predict_button)
    first = store.predictions.last
    click(view.predict_button)
    assert store.predictions.last.prediction_id == first.prediction_id
    assert f"already logged as prediction **#{first.prediction_id}**" in view.result.object
    assert len(production_store(store.settings).recent_predictions(1000)) == before + 1
    assert not view.predict_button.disabled


def test_an_invalid_value_shows_its_message_next_to_the_field_and_logs_nothing(store: DashboardStore) -> None:
    view = PredictView(store=store.predictions)
    view.inputs["age"].value = 12
    view.inputs["cgpa"].value = None
    click(view.predict_button)

    assert view.errors["age"].visible and "Got 12" in view.errors["age"].object
    assert "from 15 to 100" in view.errors["age"].object
    assert view.errors["cgpa"].visible and "from 0 to 10" in view.errors["cgpa"].object
    assert not view.errors["gender"].visible
    assert not view.result_card.visible and store.predictions.last is None
    assert len(production_store(store.settings).recent_predictions(5)) == 0

    view.inputs["age"].value = 30
    view.inputs["cgpa"].value = 8.1
    click(view.predict_button)
    assert not view.errors["age"].visible and view.result_card.visible


def test_pressing_again_on_unchanged_answers_shows_the_same_prediction_and_logs_nothing(store: DashboardStore) -> None:
    view = PredictView(store=store.predictions)
    click(view.predict_button)
    first = store.predictions.last
    click(view.predict_button)
    click(view.predict_button)
    assert f"already logged as prediction **#{first.prediction_id}**" in view.result.object
    assert len(production_store(store.settings).recent_predictions(10)) == 1

    view.inputs["age"].value = int(view.inputs["age"].value) + 1  # a changed answer is a new prediction
    click(view.predict_button)
    assert store.predictions.last.prediction_id != first.prediction_id
    assert len(production_store(store.settings).recent_predictions(10)) == 2


def test_warm_up_loads_the_champion_and_logs_nothing(store: DashboardStore, prepared: PreparedHome) -> None:
    from dashboard.stores import predict

    predict._predictors.clear()
    assert store.predictions.warm_up() == prepared.champion
    assert (str(store.settings.artifacts_dir), prepared.champion) in predict._predictors
    assert len(production_store(store.settings).recent_predictions(5)) == 0


def test_without_a_model_the_page_says_what_to_do(settings: Settings) -> None:
    view = PredictView(store=DashboardStore.from_settings(settings).predictions)
    click(view.predict_button)
    assert view.status.visible and "No model has been trained yet" in view.status.object
    assert "Traceback" not in view.status.object


# --- Feedback -----------------------------------------------------------------------------------

def test_feedback_for_the_latest_prediction_is_stored(store: DashboardStore) -> None:
    predict = PredictView(store=store.predictions)
    feedback = FeedbackView(store=store.feedback, predictions=store.predictions)
    click(predict.predict_button)
    prediction_id = store.predictions.last.prediction_id
    assert feedback.prediction_id.value == prediction_id  # offered straight after predicting
    assert feedback.outcome.value is None  # nothing chosen for the user

    feedback.outcome.value = 1
    click(feedback.save_button)

    assert "Saved" in feedback.save_status.object
    pending = production_store(store.settings).production_frame()
    assert pending.loc[pending["prediction_id"] == prediction_id, "depression"].tolist() == [1]
    assert "**1** labelled row(s) wait" in feedback.pending.object
    assert f"**{store.settings.retrain_min_rows}**" in feedback.pending.object


def test_feedback_by_id_names_a_missing_outcome_and_an_unknown_id(store: DashboardStore) -> None:
    feedback = FeedbackView(store=store.feedback, predictions=store.predictions)
    feedback.prediction_id.value = 4242
    click(feedback.save_button)
    assert feedback.outcome_error.visible and "0 (not depressed) or 1" in feedback.outcome_error.object

    feedback.outcome.value = 0
    click(feedback.save_button)
    assert feedback.save_status.alert_type == "danger" and "4242" in feedback.save_status.object
    assert production_store(store.settings).pending_count() == 0


def test_csv_upload_stores_good_rows_and_lists_each_rejection(store: DashboardStore) -> None:
    predict = PredictView(store=store.predictions)
    ids = []
    for age in (20, 21):  # two different answers: two logged predictions
        predict.inputs["age"].value = age
        click(predict.predict_button)
        ids.append(store.predictions.last.prediction_id)
    feedback = FeedbackView(store=store.feedback, predictions=store.predictions)
    csv = f"prediction_id,Depression\n{ids[0]},1\n{ids[1]},0\n999999,1\n{ids[0] + 1000},yes\n"
    feedback.upload.filename = "outcomes.csv"
    feedback.upload.value = csv.encode()
    click(feedback.import_button)

    assert "**2** of 4 outcomes accepted" in feedback.import_status.object
    assert "**2** rejected" in feedback.import_status.object
    table = feedback.rejections.value
    assert feedback.rejections.visible
    assert set(zip(table["row"], table["field"])) >= {("4", "prediction_id"), ("5", "Depression")}
    assert production_store(store.settings).pending_count() == 2
    assert "**2** labelled row(s) wait" in feedback.pending.object


def test_csv_upload_of_labelled_survey_rows(store: DashboardStore) -> None:
    from mindpulse.synthetic import generate

    raw = generate(5, seed=3, id_start=500).raw.astype(str)
    raw.loc[raw.index[1], "Age"] = "abc"
    feedback = FeedbackView(store=store.feedback)
    feedback.upload.filename = "survey.csv"
    feedback.upload.value = raw.to_csv(index=False).encode()
    click(feedback.import_button)

    assert "**4** of 5 labelled rows accepted" in feedback.import_status.object
    assert feedback.rejections.value[["row", "field"]].values.tolist() == [["3", "Age"]]


def test_an_unreadable_upload_gets_a_message_not_a_traceback(store: DashboardStore) -> None:
    feedback = FeedbackView(store=store.feedback)
    feedback.upload.filename = "notes.csv"
    feedback.upload.value = b"hello,world\n1,2\n"
    click(feedback.import_button)
    assert feedback.import_status.alert_type == "danger"
    assert "notes.csv" in feedback.import_status.object and "Traceback" not in feedback.import_status.object


# --- Models -------------------------------------------------------------------------------------

def test_rollback_changes_the_champion_only_after_confirmation(store: DashboardStore, prepared: PreparedHome) -> None:
    from mindpulse.registry import ModelRegistry

    registry = ModelRegistry.from_settings(store.settings)
    view = ModelsView(store=store.models)
    table = view.table.value.set_index("version")
    assert set(table.index) == {prepared.champion, prepared.backup, prepared.refused}
    assert "wholly below -margin" in table.loc[prepared.refused, "note"]  # why the challenger was refused
    assert table.loc[prepared.champion, "train_rows"] > 0 and 0.5 < table.loc[prepared.champion, "holdout_roc_auc"] <= 1
    assert view.target.options == [prepared.backup]  # only former champions
    assert view.target.value == prepared.backup
    # Scores with 4 decimals; the backup is the previous champion; former champions have their own card.
    assert f"holdout ROC-AUC {table.loc[prepared.champion, 'holdout_roc_auc']:.4f}" in view.cards.objects[0].object
    assert prepared.backup in view.cards.objects[1].object
    assert "Former champions" in view.cards.objects[2].object and "none besides the backup" in view.cards.objects[2].object
    assert "95 % interval" in view._layout.objects[0].object and "best model ever promoted" in view._layout.objects[0].object
    assert view.quarantine_table.value.empty and "None: every archived snapshot" in view.quarantine_note.object

    click(view.rollback_button)
    assert view.confirmation.visible and prepared.backup in view.question.object
    assert registry.champion().version == prepared.champion  # asking changes nothing
    click(view.cancel_button)
    assert not view.confirmation.visible and registry.champion().version == prepared.champion

    click(view.rollback_button)
    click(view.confirm_button)
    assert registry.champion().version == prepared.backup
    assert f"The champion is now `{prepared.backup}`" in view.status.object
    assert prepared.backup in view.cards.objects[0].object
    assert view.target.options == [prepared.champion]  # the replaced champion is now the way back

    predict = PredictView(store=store.predictions)
    click(predict.predict_button)
    assert store.predictions.last.model_version == prepared.backup  # predictions follow at once


def test_the_models_page_lists_the_snapshots_in_quarantine(store: DashboardStore) -> None:
    from mindpulse.store import Store

    with Store.from_settings(store.settings) as data:
        snapshot = data.claim_snapshot("manual__aside")
        data.archive_snapshot(snapshot.id)
        data.quarantine_snapshot(snapshot.id, reason="<b>flipped</b> labels", by="ana")
    view = ModelsView(store=store.models)
    table = view.quarantine_table.value
    assert table.to_dict("records") == [{"snapshot": snapshot.id, "rows": snapshot.n_rows, "reason": "<b>flipped</b> labels",
                                         "quarantined_by": "ana", "quarantined_at": table["quarantined_at"][0]}]
    assert "1 snapshot(s) left out of training" in view.quarantine_note.object


# --- Reports ------------------------------------------------------------------------------------

def test_reports_are_listed_newest_first_and_open_through_static_urls(store: DashboardStore, prepared: PreparedHome) -> None:
    view = ReportsView(store=store.reports)
    listed = list(view.picker.options.values())
    assert listed == list(prepared.report_runs)[::-1]  # prepared oldest first
    assert view.table.value["features_drifted"].notna().all()

    view.picker.value = listed[0]
    click(view.open_button)

    frames = [pane.object for pane in _panes(view.detail) if "<iframe" in str(getattr(pane, "object", ""))]
    assert frames, view.status.object
    reports_dir = Path(store.settings.reports_dir)
    for markup in frames:
        src = markup.split('src="', 1)[1].split('"', 1)[0]
        assert src.startswith("/reports/")
        assert (reports_dir / src.removeprefix("/reports/")).is_file()  # the URL names a real file
        assert len(markup) < 2_000  # the report itself never crosses the websocket
    assert any("Notebook" in title for title in _tab_titles(view.detail))
    assert list(reports_dir.rglob("*.html"))


def test_reports_open_on_the_newest_run_with_a_report_and_the_picker_names_it(store: DashboardStore, prepared: PreparedHome) -> None:
    """A newer retrain run with notebooks only: the page shows the newest run with an Evidently
    report, says why, and lists the retrain run's notebooks in step order when picked."""
    import nbformat

    from mindpulse import runs
    from dashboard_support import write_executed_notebook

    folder = runs.run_dir(store.settings.reports_dir, "ml_retrain_pipeline", "manual__2026-11-28T10:00:00+00:00")
    steps = [("check_production_data", "01_check_production_data"), ("backup_model", "03_backup_model"),
             ("archive_production_data", "06_archive_production_data")]
    for step, source in steps:  # alphabetical order (archive, backup, check) is not the step order
        path = write_executed_notebook(runs.notebook_path(folder, step), {"status": step})
        notebook = nbformat.read(path, as_version=4)
        notebook.metadata["papermill"] = {"input_path": f"notebooks/retrain/{source}.ipynb"}
        nbformat.write(notebook, str(path))
    runs.write_summary(folder, {"dag_id": "ml_retrain_pipeline", "run_id": "manual__2026-11-28T10:00:00+00:00",
                                "created_at": "2026-11-28T10:00:00+00:00", "outcome": "skipped"})

    view = in_thread(lambda: ReportsView(store=store.reports))
    newest_with_report = prepared.report_runs[-1]
    assert list(view.picker.options.values())[0] == str(folder)  # newest first in the list
    assert view.picker.value == newest_with_report  # the picker names the run on display
    assert any("Data drift" in title for title in _tab_titles(view.detail))
    assert "newest run with an Evidently report" in view.status.object and view.status.visible
    assert str(view.table.value["rows"].dtype) == "Int64"  # 600, not 600.0

    in_thread(lambda: setattr(view.picker, "value", str(folder)))
    titles = [t for t in _tab_titles(view.detail) if t.startswith("Notebook")]
    assert titles == ["Notebook: check production data", "Notebook: backup model", "Notebook: archive production data"]


def test_reports_say_which_model_made_the_predictions_and_judge_each_version(store: DashboardStore,
                                                                           prepared: PreparedHome) -> None:
    from mindpulse import runs

    newest = Path(prepared.report_runs[-1])
    by_version = {prepared.champion: {"rows": 900, "accuracy": 0.81, "precision": 0.8, "recall": 0.85, "f1": 0.82,
                                      "roc_auc": 0.9},
                  prepared.backup: {"rows": 300, "accuracy": 0.7, "precision": 0.7, "recall": 0.7, "f1": 0.7,
                                    "roc_auc": 0.8}}
    summary = runs.read_summary(newest)
    summary["models"] = {"current_rows_by_version": {prepared.champion: 900, prepared.backup: 300},
                         "reference_scored_by": prepared.champion, "performance_by_version": by_version}
    runs.write_summary(newest, summary)

    view = ReportsView(store=store.reports)
    listed = view.table.value.set_index("created_at")
    assert listed["models"].tolist() == [f"{prepared.champion} (900 rows), {prepared.backup} (300 rows)", ""]

    view.picker.value = str(newest)
    click(view.open_button)
    text = " ".join(str(pane.object) for pane in _panes(view.detail) if isinstance(getattr(pane, "object", None), str))
    assert f"Predictions by {prepared.champion} (900 rows), {prepared.backup} (300 rows); reference scored by " \
           f"{prepared.champion}" in text
    tables = [pane.value for pane in _panes(view.detail) if hasattr(pane, "value") and isinstance(pane.value, pd.DataFrame)]
    assert tables and tables[0].set_index("model_version")["roc_auc"].to_dict() == {prepared.champion: 0.9,
                                                                                    prepared.backup: 0.8}


def test_reports_list_hand_runs_apart_from_pipeline_runs(store: DashboardStore, prepared: PreparedHome) -> None:
    from mindpulse import runs

    run_id = "interactive__2026-11-29T09:00:00.000000+00:00"
    folder = runs.run_dir(store.settings.reports_dir, "ml_retrain_pipeline", run_id)
    runs.write_summary(folder, {"dag_id": "ml_retrain_pipeline", "run_id": run_id, "outcome": "skipped",
                                "created_at": "2026-11-29T09:00:00+00:00"})  # newer than every pipeline run

    view = ReportsView(store=store.reports)
    assert run_id not in set(view.table.value["run_id"])
    assert list(view.hand_table.value["run_id"]) == [run_id] and view.hand_table.visible
    assert view.picker.value != str(folder)  # the page opens on a pipeline run
    assert list(view.picker.options.values())[-1] == str(folder)
    assert next(label for label, value in view.picker.options.items() if value == str(folder)).startswith("hand run")
    view.hand_table.selection = [0]
    assert view.picker.value == str(folder)


def _panes(layout):
    for obj in layout.objects:
        if hasattr(obj, "objects"):
            yield from _panes(obj)
        else:
            yield obj


def _tab_titles(layout):
    import panel as pn

    for obj in layout.objects:
        if isinstance(obj, pn.Tabs):
            yield from obj._names


# --- Pipelines ----------------------------------------------------------------------------------

def test_pipelines_say_plainly_when_airflow_is_not_reachable(settings: Settings) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings.model_copy(update={"airflow_api_url": f"http://127.0.0.1:{port}"})
    view = PipelinesView(store=DashboardStore.from_settings(settings).pipelines)
    click(view.refresh_button)
    assert view.connection.alert_type == "danger"
    assert f"Airflow is not reachable at http://127.0.0.1:{port}" in view.connection.object
    click(view.retrain_button)
    assert "not reachable" in view.status.object and "Traceback" not in view.status.object


def test_the_pipelines_page_states_the_gates_own_rule(settings: Settings) -> None:
    from mindpulse import gate

    text = PipelinesView(store=DashboardStore.from_settings(settings).pipelines)._layout.objects[0].object
    assert "only a better model" not in text
    assert f"puts the challenger through the promotion gate: {gate.RULE}" in text


def test_form_defaults_without_reference_data_are_typical_survey_answers(settings: Settings) -> None:
    defaults = form_defaults(settings)
    assert set(defaults) == set(c.FEATURES)
    assert 18 <= defaults["age"] <= 30 and defaults["academic_pressure"] in range(1, 6)
    c.validate_record(defaults)  # the starting form is valid as it is


def test_a_store_change_made_in_a_worker_thread_updates_the_view_on_the_sessions_loop(monkeypatch) -> None:
    """Store methods run in worker threads; the views they update must be changed on the session's
    event loop, and the document itself must not be touched from the worker thread either: the
    worker only hands the update to the loop (Tornado's add_callback), which queues it on the
    document (add_next_tick_callback) while Panel is not holding it half-way through a patch."""
    import panel as pn

    from dashboard.views.common import on_session_loop

    class Session:  # what a served document has: a session and a callback queue
        session_context = object()

        def __init__(self) -> None:
            self.queued: list = []
            self.touched_in: list[str] = []

        def add_next_tick_callback(self, callback) -> None:
            self.touched_in.append(threading.current_thread().name)
            self.queued.append(callback)

    doc = Session()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda self: doc))
    ran_in: list[str] = []

    async def session_loop() -> str:  # the view is built on the loop; a store method runs in a worker
        watcher = on_session_loop(lambda: ran_in.append(threading.current_thread().name))
        worker = threading.Thread(target=watcher, args=("event",), name="store-worker")
        worker.start()
        worker.join()
        assert doc.queued == []  # the worker touched nothing
        for _ in range(50):
            if doc.queued:
                break
            await asyncio.sleep(0.01)
        return threading.current_thread().name

    loop_thread = in_thread(lambda: asyncio.run(session_loop()))
    assert doc.touched_in == [loop_thread] and ran_in == []  # queued on the document, from the loop
    doc.queued[0]()
    assert ran_in == [threading.current_thread().name]

    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda self: None))
    on_session_loop(lambda: ran_in.append("at once"))("event")  # no session (a view built in a test): at once
    assert ran_in[-1] == "at once"


def test_literal_and_code_show_any_text_as_written_in_markdown():
    """The escaping every view uses for what a user or a file supplied: no HTML, no Markdown markup."""
    import markdown_it

    from dashboard.views.common import code, literal

    render = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("strikethrough").enable("table")
    planted = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "**not bold** _not it_ ~~no~~",
               "[link](javascript:alert(3)) ![i](x)", "# not a heading", "- not a list\n1. nor this", "a | b",
               "back\\slash `tick` &amp; $x$", "MINDPULSE_AIRFLOW_PASSWORD", "manual__2026-11-28T10:00:00+00:00"]
    for text in planted:
        html = render.render(literal(text))
        assert "<img" not in html and "<script" not in html and "<a " not in html and "<em>" not in html
        assert "<strong>" not in html and "<h1>" not in html and "<li>" not in html and "<s>" not in html
        shown = html.replace("<p>", "").replace("</p>", "").replace("\n", " ").strip()
        assert _unescape(shown) == text.replace("\n", " "), (text, html)
        spanned = render.render(f"run {code(text)}")
        assert "<img" not in spanned and "<script" not in spanned
    assert code("a`b") == "``a`b``" and code("v0001") == "`v0001`"
    assert literal("MINDPULSE_AIRFLOW_PASSWORD") == "MINDPULSE_AIRFLOW_PASSWORD"  # snake_case reads as it is


def _unescape(html_text: str) -> str:
    import html

    return html.unescape(html_text)


def test_reports_status_names_a_planted_run_literally(prepared: PreparedHome) -> None:
    """The status line that names the newest run (a folder's name when its summary has no run id)."""
    from mindpulse.io import atomic_write_json

    store = DashboardStore.from_settings(prepared.settings)
    folder = Path(prepared.settings.reports_dir) / "evidently_reporting_pipeline" / "<img src=x onerror=alert(1)>"
    atomic_write_json(folder / "run_summary.json", {"dag_id": "evidently_reporting_pipeline", "outcome": "skipped",
                                                    "created_at": "2030-01-01T00:00:00+00:00"})
    view = in_thread(lambda: ReportsView(store=store.reports))
    assert "the newest is evidently\\_reporting\\_pipeline" not in view.status.object  # snake_case unchanged
    assert "/ &lt;img src=x onerror=alert(1)&gt;)" in view.status.object and "<img" not in view.status.object
