"""The Trends page: how the platform has done across runs, as interactive plots (hvplot/Bokeh).

Drift share; realized ROC-AUC, accuracy and F1 beside the performance estimated without labels
(CBPE, with its band); labelled rows waiting; retrain outcomes on the champion's timeline. The
figures come from the runs' JSON records (``mindpulse.trends``), read when the page is opened.
hvplot is imported when the page is first drawn, not when the dashboard starts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.stores import TrendStore
from dashboard.views.common import code, message_for

PLOT_OPTIONS: dict[str, Any] = {"height": 280, "responsive": True, "show_grid": True}
OUTCOME_COLOURS = {"promoted": "#55A868", "refused": "#C44E52", "skipped": "#999999", "failed": "#000000"}
METRIC_COLOURS = {"roc_auc": "#4C72B0", "accuracy": "#DD8452", "f1": "#55A868"}


def drift_plot(frame: pd.DataFrame) -> Any:
    import hvplot.pandas  # noqa: F401 (registers .hvplot)

    shown = frame.dropna(subset=["drift_share"])
    options = {"x": "created_at", "y": "drift_share", "by": "dag_id", "hover_cols": ["run_id", "outcome"]}
    return (shown.hvplot.line(**options) * shown.hvplot.scatter(**options)).opts(
        title="Feature drift: share of the 13 model features drifted", xlabel="run", ylabel="drifted share",
        ylim=(0, 1), legend_position="top_left", **PLOT_OPTIONS)


def performance_plot(frame: pd.DataFrame) -> Any:
    import holoviews as hv
    import hvplot.pandas  # noqa: F401

    layers = []
    for name, colour in METRIC_COLOURS.items():
        realized = frame.dropna(subset=[name])
        if len(realized):
            layers.append(realized.hvplot.line(x="created_at", y=name, color=colour, label=f"{name} realized",
                                               hover_cols=["run_id", "realized_model_version", "labelled_rows"]) *
                          realized.hvplot.scatter(x="created_at", y=name, color=colour))
        estimated = frame.dropna(subset=[f"estimated_{name}"])
        if len(estimated):
            layers.append(estimated.hvplot.area(x="created_at", y=f"estimated_{name}_lower",
                                                y2=f"estimated_{name}_upper", color=colour, alpha=0.2,
                                                label=f"{name} estimated band"))
            layers.append(estimated.hvplot.line(x="created_at", y=f"estimated_{name}", color=colour, line_dash="dashed",
                                                label=f"{name} estimated (CBPE)",
                                                hover_cols=["run_id", "estimated_model_version", "estimated_rows"]))
    if not layers:
        return hv.Text(0, 0, "no performance figures yet")
    # The legend sits outside the plotting area, beside it: inside, it covered the lines it names.
    return hv.Overlay(layers).opts(title="Performance: realized (labels) and estimated without labels (CBPE)",
                                   xlabel="run", ylabel="value", legend_position="right", **PLOT_OPTIONS)


def waiting_plot(frame: pd.DataFrame) -> Any:
    import holoviews as hv
    import hvplot.pandas  # noqa: F401

    shown = frame.dropna(subset=["waiting_rows"])
    if shown.empty:
        return hv.Text(0, 0, "no retrain runs yet")
    options = {"x": "created_at", "y": "waiting_rows", "hover_cols": ["run_id", "outcome"]}
    return (shown.hvplot.line(**options) * shown.hvplot.scatter(**options)).opts(
        title="Labelled rows waiting (retrain runs)", xlabel="run", ylabel="rows", **PLOT_OPTIONS)


def champion_plot(frame: pd.DataFrame) -> Any:
    import holoviews as hv
    import hvplot.pandas  # noqa: F401

    retrain = frame[frame["dag_id"].astype(str).str.contains("retrain")].dropna(subset=["champion_after"]).copy()
    if retrain.empty:
        return hv.Text(0, 0, "no retrain runs yet")
    retrain["champion_number"] = retrain["champion_after"].astype(str).str.extract(r"^v?(\d+)")[0].astype(float)
    line = retrain.hvplot.step(x="created_at", y="champion_number", where="post", color="#666666", label="champion")
    points = [retrain[retrain["outcome"] == outcome].hvplot.scatter(
        x="created_at", y="champion_number", color=colour, size=80, label=outcome,
        hover_cols=["run_id", "challenger", "champion_before", "champion_after"])
        for outcome, colour in OUTCOME_COLOURS.items() if (retrain["outcome"] == outcome).any()]
    return hv.Overlay([line, *points]).opts(title="Retrain outcomes and the champion version", xlabel="run",
                                            ylabel="champion version number", legend_position="top_left",
                                            **PLOT_OPTIONS)


class TrendsView(Viewer):
    """Four interactive plots and the table of runs they come from."""

    store = param.ClassSelector(class_=TrendStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.summary = pn.pane.Markdown("", css_classes=["mp-trends-summary"])
        self.plots = pn.GridBox(ncols=2, sizing_mode="stretch_width", css_classes=["mp-trends-plots"])
        self.table = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, sizing_mode="stretch_width",
                                          max_height=360, layout="fit_data_stretch", css_classes=["mp-trends-table"])
        self.refresh_button = pn.widgets.Button(label="Refresh", color="light", width=120)
        self.refresh_button.on_click(lambda event: self.refresh())
        self._layout = pn.Column(
            pn.pane.Markdown("## Trends\nAcross runs, from each run's JSON records: drift, performance realized "
                             "once labels arrive beside the performance estimated without labels (CBPE), labelled "
                             "rows waiting, and retrain outcomes with the champion version."),
            self.refresh_button, self.summary, self.plots,
            pn.pane.Markdown("### Runs"), self.table,
            sizing_mode="stretch_width",
        )
        self._drawn = False

    def refresh(self) -> None:
        """Read the runs' records again and redraw (when the page is opened, or on Refresh)."""
        self._drawn = True
        self._draw()

    def _draw(self) -> None:
        try:
            frame = self.store.frame()
        except Exception as error:  # a broken record must not take the page down
            self.summary.object = message_for(error)
            return
        retrains = int(frame["dag_id"].astype(str).str.contains("retrain").sum())
        self.summary.object = (f"**{len(frame)} run(s)** ({retrains} retrain, {len(frame) - retrains} reporting) "
                               f"under {code(self.store.root)}.")
        if frame.empty:
            self.plots.objects = [pn.pane.Markdown("No runs yet: the pipelines write their records under reports/.")]
        else:
            self.plots.objects = [pn.pane.HoloViews(make(frame), sizing_mode="stretch_width", css_classes=[css])
                                  for make, css in ((drift_plot, "mp-trend-drift"),
                                                    (performance_plot, "mp-trend-performance"),
                                                    (waiting_plot, "mp-trend-waiting"),
                                                    (champion_plot, "mp-trend-champion"))]
        shown = frame.copy()
        shown["created_at"] = shown["created_at"].astype(str)
        self.table.value = shown

    def __panel__(self) -> pn.Column:
        if not self._drawn:  # drawn when first shown: hvplot's import is not paid by every page load
            self.refresh()
        return self._layout
