"""The Feedback page's store: true outcomes for one logged prediction, or many from a CSV."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import param

from mindpulse import contract as c
from mindpulse.settings import Settings

from dashboard.stores.common import Acting, DashboardError, production_store


#: The Feedback page's checkbox that allows replacing a recorded outcome (``correct=True``).
CORRECT_LABEL = "This corrects an outcome recorded before"
#: The two CSV forms the Feedback page accepts, in words.
CSV_FORMS = ("outcomes for logged predictions (header `prediction_id,Depression`), or labelled survey rows "
             "(the survey's own header, e.g. `id,Gender,Age,City,…,Depression`, with `Depression` filled in)")


def header_message(filename: str, content: bytes, problems: list[c.Problem]) -> str | None:
    """One sentence for a file whose header fits neither accepted form (None if the problem is elsewhere)."""
    missing = [str(p.field) for p in problems if str(p.row) == "header" and p.value == "(missing)"]
    if not missing or len(missing) != len(problems):
        return None
    first = content.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0] if content.strip() else ""
    header = ", ".join(name.strip() for name in first.split(",") if name.strip()) or "nothing"
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    # Plain text: the message names what the file holds, and the page shows it literally.
    return (f"{filename}: its header has {header}, which fits neither accepted form: {CSV_FORMS.replace('`', chr(39))}. "
            f"As survey rows it lacks {shown}.")


class FeedbackStore(Acting):
    """Records true outcomes: for one logged prediction, or many from a CSV."""

    settings = param.ClassSelector(class_=Settings)
    changes = param.Integer(default=0, doc="Bumped after each stored outcome, so views refresh.")

    @property
    def retrain_threshold(self) -> int:
        """Labelled rows that trigger the next retrain."""
        return int(self.settings.retrain_min_rows)

    def pending_count(self) -> int:
        """Labelled rows waiting for the next retrain."""
        return production_store(self.settings).pending_count()

    def requested_outcomes(self):  # noqa: ANN201 - a pandas DataFrame (imported lazily)
        """The predictions whose outcomes the newest drifted retrain run asked for and that still have none.

        Columns: prediction_id, model_version, probability, created_at, asked_by (the run id). Empty
        when no retrain run asked, or every asked outcome was recorded.
        """
        import json

        import pandas as pd

        from mindpulse.dag_ids import RETRAIN_DAG_ID

        columns = ["prediction_id", "model_version", "probability", "created_at", "asked_by"]
        newest = None
        for path in (self.settings.reports_dir / RETRAIN_DAG_ID).glob("*/outcome_request.json"):
            try:
                request = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if newest is None or str(request.get("created_at")) > str(newest.get("created_at")):
                newest = request
        if not newest or not newest.get("predictions"):
            return pd.DataFrame(columns=columns)
        asked = pd.DataFrame(newest["predictions"])
        recent = production_store(self.settings).recent_predictions(limit=self.settings.monitoring_max_rows)
        labelled = set(recent.loc[recent["depression"].notna(), "prediction_id"].astype(int))
        asked = asked.loc[~asked["prediction_id"].astype(int).isin(labelled)].assign(asked_by=newest.get("run_id"))
        return asked.reindex(columns=columns).reset_index(drop=True)

    def record_outcome(self, prediction_id: int | None, depression: int | None, *, correct: bool = False):
        """Store the true outcome of one logged prediction; returns the store's FeedbackResult.

        Raises ``ContractError`` (bad id or outcome, by field) or ``DashboardError`` (unknown id,
        or a different outcome already recorded and ``correct`` not asked for).
        """
        from mindpulse.store import StoreError
        from mindpulse.store.production_store import FeedbackConflictError

        self.require("outcomes", "enter outcomes")
        if prediction_id is None or depression is None:
            problems = []
            if prediction_id is None:
                problems.append(c.Problem(1, "prediction_id", "", "the whole-number id of a logged prediction"))
            if depression is None:
                problems.append(c.Problem(1, c.TARGET, "", "0 (not depressed) or 1 (depressed)"))
            raise c.ContractError(problems, "feedback")
        try:
            result = production_store(self.settings).record_feedback(int(prediction_id), int(depression),
                                                                      correct=correct, actor=self.actor)
        except FeedbackConflictError as exc:
            message = str(exc)
            if "To replace it" in message:  # the store's words name the CLI; the page has a checkbox
                message = (message.split(". To replace it")[0]
                           + f". To replace it, tick “{CORRECT_LABEL}” and save again.")
            raise DashboardError(message) from exc
        except StoreError as exc:
            raise DashboardError(str(exc)) from exc
        if result.status != "unchanged":
            self.audit("outcomes_corrected" if result.status == "corrected" else "outcomes_recorded",
                       target=f"prediction {result.prediction_id}", details={"prediction_ids": [result.prediction_id]})
        self.changes += 1
        return result

    def import_csv(self, content: bytes, filename: str = "outcomes.csv"):
        """Validate and store an uploaded CSV; returns the store's FeedbackReport.

        Two formats: outcomes (``prediction_id`` and ``Depression`` columns) or labelled rows in
        the survey's format. Good rows are stored; each bad cell is reported with its line.
        """
        self.require("outcomes", "enter outcomes")
        if not content:
            raise DashboardError(f"{filename}: the file is empty; choose a CSV with a header row.")
        with tempfile.TemporaryDirectory(prefix="mindpulse-upload-") as folder:
            path = Path(folder) / (Path(filename).name or "outcomes.csv")
            path.write_bytes(content)
            try:
                report = production_store(self.settings).import_feedback_csv(path, actor=self.actor)
            except c.ContractError as exc:
                # The message names the temporary copy; the user knows the file by its own name.
                message = header_message(filename, content, list(exc.problems))
                raise DashboardError(message or f"{filename}: " + "; ".join(str(p) for p in exc.problems)) from exc
        if report.accepted:
            self.audit("outcomes_imported", target=Path(filename).name[:200],
                       details={"accepted": report.accepted, "kind": report.kind})
            self.changes += 1
        return dataclasses.replace(report, source=filename)
