"""All the stores of one dashboard session."""

from __future__ import annotations

from typing import Any

import param

from mindpulse.settings import Settings, get_settings

from dashboard.stores.audit import AuditStore
from dashboard.stores.feedback import FeedbackStore
from dashboard.stores.models import ModelStore
from dashboard.stores.pipelines import PipelineStore
from dashboard.stores.predict import PredictionStore
from dashboard.stores.reports import ReportStore
from dashboard.stores.trends import TrendStore


class DashboardStore(param.Parameterized):
    """All the stores of one dashboard session, sharing one settings object."""

    settings = param.ClassSelector(class_=Settings)
    predictions = param.ClassSelector(class_=PredictionStore)
    feedback = param.ClassSelector(class_=FeedbackStore)
    reports = param.ClassSelector(class_=ReportStore)
    models = param.ClassSelector(class_=ModelStore)
    pipelines = param.ClassSelector(class_=PipelineStore)
    trends = param.ClassSelector(class_=TrendStore)
    audit = param.ClassSelector(class_=AuditStore)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, static_url: str = "/reports",
                      principal: Any = None) -> "DashboardStore":
        """The stores of one session; ``principal`` (the signed-in account) is who acts in each."""
        settings = settings or get_settings()
        return cls(
            settings=settings,
            predictions=PredictionStore(settings=settings, principal=principal),
            feedback=FeedbackStore(settings=settings, principal=principal),
            reports=ReportStore(settings=settings, static_url=static_url),
            models=ModelStore(settings=settings, principal=principal),
            pipelines=PipelineStore(settings=settings, principal=principal),
            trends=TrendStore(settings=settings),
            audit=AuditStore(settings=settings, principal=principal),
        )
