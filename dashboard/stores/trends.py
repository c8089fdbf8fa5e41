"""The Trends page's data: one row per run, from the runs' JSON records (``mindpulse.trends``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import param

from mindpulse.settings import Settings


class TrendStore(param.Parameterized):
    """Reads the run folders under the reports root each time it is asked (nothing is cached or copied)."""

    settings = param.ClassSelector(class_=Settings)

    @property
    def root(self) -> Path:
        return self.settings.reports_dir

    def frame(self) -> pd.DataFrame:
        from mindpulse.trends import trend_frame

        return trend_frame(self.root)
