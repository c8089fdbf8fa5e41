"""The dashboard's pages: ``pn.viewable.Viewer`` classes, each given its store."""

from dashboard.views.audit import AuditView
from dashboard.views.feedback import FeedbackView
from dashboard.views.models import ModelsView
from dashboard.views.pipelines import PipelinesView
from dashboard.views.predict import PredictView
from dashboard.views.reports import ReportsView
from dashboard.views.trends import TrendsView

__all__ = ["AuditView", "FeedbackView", "ModelsView", "PipelinesView", "PredictView", "ReportsView", "TrendsView"]
