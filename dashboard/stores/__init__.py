"""The dashboard's data layer: plain ``param`` classes that call the mindpulse package.

One module per page, mirroring ``dashboard.views`` (``predict``, ``feedback``, ``reports``,
``models``, ``pipelines``, ``trends``), what they share in ``common``, and ``session.DashboardStore``
holding one of each. No widgets here: the views are given these stores and only display what
they return. Every method that a user's action reaches either returns plain data or raises an
exception whose message can be shown as it is (``DashboardError``, ``contract.ContractError``).
Expensive objects (the champion's predictor, the store's engine, the form defaults) are cached
per process, so each browser session costs little.

Everything is re-exported here, so ``from dashboard.stores import X`` keeps working.
"""

from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID

from dashboard.stores.common import DashboardError, model_registry, production_store
from dashboard.stores.feedback import FeedbackStore
from dashboard.stores.models import VERSION_COLUMNS, ModelStore, version_row
from dashboard.stores.pipelines import RUN_COLUMNS, PipelineState, PipelineStore, runs_frame
from dashboard.stores.predict import PredictionOutcome, PredictionStore, field_messages, form_defaults, form_fields
from dashboard.stores.reports import REPORT_TITLES, ReportRun, ReportStore, render_notebook
from dashboard.stores.session import DashboardStore
from dashboard.stores.trends import TrendStore

__all__ = [
    "REPORTING_DAG_ID", "REPORT_TITLES", "RETRAIN_DAG_ID", "RUN_COLUMNS", "VERSION_COLUMNS",
    "DashboardError", "DashboardStore", "FeedbackStore", "ModelStore", "PipelineState", "PipelineStore",
    "PredictionOutcome", "PredictionStore", "ReportRun", "ReportStore", "TrendStore",
    "field_messages", "form_defaults", "form_fields", "model_registry", "production_store", "render_notebook",
    "runs_frame", "version_row",
]
