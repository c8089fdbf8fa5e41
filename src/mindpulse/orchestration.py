"""What the pipeline DAGs share: the one factory of notebook tasks, the DAG defaults, the
failure notifier and the task that fails a run when any step failed.

Imported by the DAG files at parse time, so it imports only Airflow, the papermill provider and
the cheap ``mindpulse.runs`` / ``mindpulse.settings``; everything heavy is imported inside the
functions that run in a task.

Paths are resolved when a task runs (Jinja macros), from the settings of the worker: the run
folder is ``reports/<dag_id>/<safe run id>/`` and an executed notebook is ``<step>.ipynb`` in
it, a function of the DAG, the run and the step only, so a retry overwrites its own record and
nothing else. ``{{ run_id }}`` is used, never ``{{ ds }}``/``{{ ts }}``: runs triggered from the
UI or the REST API have no logical date in Airflow 3.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.papermill.operators.papermill import PapermillOperator
from airflow.sdk import DAG, BaseNotifier, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException

from mindpulse import runs
from mindpulse.settings import Settings

log = logging.getLogger(__name__)

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
# The venv's own kernel: registering a custom kernel is not needed (it works off PATH too).
KERNEL_NAME = "python3"
RUN_DIR = "{{ mindpulse_run_dir(dag.dag_id, run_id) }}"
WATCHER_TASK_ID = "fail_if_any_step_failed"


def run_folder(dag_id: str, run_id: str) -> str:
    """The run folder in the worker's settings (a DAG macro, rendered when a task runs)."""
    return str(runs.run_dir(Settings().reports_dir, dag_id, run_id))


def notebook_file(relative: str) -> str:
    """A pipeline notebook in the worker's settings (``MINDPULSE_NOTEBOOKS_DIR``)."""
    folder = Settings().notebooks_dir
    path = folder / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path}: notebook not found; MINDPULSE_NOTEBOOKS_DIR={folder} should be the project's notebooks/ folder")
    return str(path)


MACROS = {"mindpulse_run_dir": run_folder, "mindpulse_notebook": notebook_file}


class StepFailureNotifier(BaseNotifier):
    """Sends 'step X of run Y failed' to the log, webhook and e-mail of the settings."""

    def notify(self, context: Any) -> None:
        from mindpulse import notify

        ti = context["ti"]
        dag_id, run_id = ti.dag_id, ti.run_id
        notebook = runs.notebook_path(run_folder(dag_id, run_id), ti.task_id)
        error = context.get("exception")
        notification = notify.Notification(
            subject=f"{dag_id}: step {ti.task_id} failed",
            text=(f"Step {ti.task_id} of run {run_id} failed after {ti.try_number} attempt(s): {error}. "
                  f"Executed notebook (with the error): {notebook}"),
            level="failure",
            payload={"dag_id": dag_id, "run_id": run_id, "task_id": ti.task_id, "try_number": ti.try_number,
                     "error": str(error) if error else None, "notebook": str(notebook)},
        )
        notify.send(notification)


def pipeline_dag(dag_id: str, *, schedule: str, description: str, params: dict[str, Any], doc_md: str | None = None,
                 tags: tuple[str, ...] = ()) -> DAG:
    """A DAG with the pipeline's defaults: no catch-up, one active run, retries, per-task and per-run timeouts, native templates."""
    settings = Settings()
    return DAG(
        dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        # Parameters reach the notebooks as numbers and booleans, not as their text.
        render_template_as_native_obj=True,
        user_defined_macros=MACROS,
        params=params,
        description=description,
        doc_md=doc_md,
        tags=["mindpulse", *tags],
        dagrun_timeout=timedelta(minutes=settings.pipeline_run_timeout_minutes),
        default_args={
            # A hung kernel fails its task (and is retried) instead of holding the run until its timeout.
            "execution_timeout": timedelta(minutes=settings.pipeline_task_timeout_minutes),
            "retries": settings.pipeline_retries,
            "retry_delay": timedelta(seconds=settings.pipeline_retry_delay_seconds),
            "on_failure_callback": StepFailureNotifier(),
        },
    )


def _make_run_folder(context: Any) -> None:
    # Papermill does not create the output folder; the path is rendered by now.
    Path(context["task"].output_nb).parent.mkdir(parents=True, exist_ok=True)


def notebook_task(step: str, notebook: str, *, parameters: dict[str, Any] | None = None, **operator_args: Any) -> PapermillOperator:
    """The task that runs ``notebooks/<notebook>`` into the run folder as ``<step>.ipynb``.

    Every notebook gets ``dag_id``, ``run_id`` and ``run_dir``; ``parameters`` adds the step's
    own (Jinja templates allowed, rendered as native values). Use it inside a DAG made by
    :func:`pipeline_dag`, which provides the macros the paths are rendered with.
    """
    return PapermillOperator(
        task_id=step,
        input_nb="{{ mindpulse_notebook('%s') }}" % notebook,
        output_nb=f"{RUN_DIR}/{step}.ipynb",
        parameters={"dag_id": "{{ dag.dag_id }}", "run_id": "{{ run_id }}", "run_dir": RUN_DIR, **(parameters or {})},
        kernel_name=KERNEL_NAME,
        pre_execute=_make_run_folder,
        doc_md=f"Runs `notebooks/{notebook}`; its executed copy `{step}.ipynb` in the run folder is the audit record.",
        **operator_args,
    )


def fail_if_any_step_failed(dag: DAG) -> Any:
    """A last task that fails the run when any step failed, whatever the gates decided.

    A run's state comes from its leaf tasks, and the final notify step runs whatever happened
    (``all_done``), so without this a run whose training failed would end as a success.

    It is downstream of every task except the gates: a gate that says no skips the tasks right
    after it, and would skip this one too, hiding a failure of the steps that run anyway. A
    gate's own failure still reaches it, as ``upstream_failed`` of the tasks after the gate.
    """
    from airflow.sdk.bases.skipmixin import SkipMixin

    @task(task_id=WATCHER_TASK_ID, trigger_rule=TriggerRule.ONE_FAILED, retries=0, on_failure_callback=None)
    def watch() -> None:
        raise AirflowFailException("a step of this run failed; its executed notebook in the run folder shows the error")

    watcher = watch()
    for other in dag.tasks:
        if other.task_id == WATCHER_TASK_ID:
            continue
        if isinstance(other, SkipMixin):
            if not other.downstream_task_ids - {WATCHER_TASK_ID}:
                raise ValueError(f"{other.task_id}: a gate must have a step after it, or its failure goes unseen")
            continue
        other >> watcher
    return watcher
