"""Static figures for the executed notebooks: PNG images that render the same offline, in
JupyterLab, in nbconvert HTML and on the dashboard, years later.

Each function takes plain data (frames, dicts, arrays) and returns a :class:`Png`, which a
notebook displays as an ``image/png`` output. Matplotlib is imported inside the functions, with
its Agg backend and without pyplot (no global figure state), so importing this module costs
nothing and a step that draws nothing pays nothing. :func:`show_whole_tables` makes pandas print
every row, column and character of a table.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Colours of the two models (or the two data sets) compared in a figure.
FIRST, SECOND, THRESHOLD = "#4C72B0", "#DD8452", "#C44E52"


class Png:
    """A rendered figure: shown by Jupyter as ``image/png``, or written to a file."""

    def __init__(self, data: bytes, title: str = ""):
        self.data = data
        self.title = title

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:  # the text form of the output, for a terminal or a diff
        return f"<figure: {self.title or 'untitled'}>"

    def save(self, path: Any) -> None:
        from mindpulse.io import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(self.data)


def show_whole_tables() -> None:
    """Make pandas print tables whole: every row, column and character, no "..." anywhere."""
    for option, value in (("display.max_rows", None), ("display.max_columns", None), ("display.max_colwidth", None),
                          ("display.width", None), ("display.max_seq_items", None),
                          ("display.expand_frame_repr", False), ("display.precision", 4)):
        pd.set_option(option, value)


def _figure(width: float = 7.0, height: float = 4.0, ncols: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = figure.subplots(1, ncols) if ncols > 1 else figure.subplots()
    return figure, axes


def _fit_titles(figure: Any) -> None:
    """Wrap each axes title that would run past the figure's edges (a long title is cut otherwise)."""
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if hasattr(figure.canvas, "get_renderer") else FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    width = figure.bbox.width
    for axes in figure.axes:
        title = axes.title
        text = title.get_text().replace("\n", " ")
        chars = len(text)
        while chars > 10:
            extent = title.get_window_extent(renderer)
            if extent.x0 >= 0 and extent.x1 <= width:
                break
            chars = int(chars * 0.85)
            title.set_text(textwrap.fill(text, chars))


def _png(figure: Any, title: str) -> Png:
    _fit_titles(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # a Figure without pyplot draws on its own Agg canvas
    return Png(buffer.getvalue(), title)


def _note(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="0.4")
    axes.set_xticks([])
    axes.set_yticks([])


# --- checks -----------------------------------------------------------------------------------

def rows_by_day(counts: pd.DataFrame, *, counted: Sequence[str], counted_label: str, threshold: float | None = None,
                threshold_label: str = "min_rows", title: str = "Production rows by day and state") -> Png:
    """Stacked bars of rows per day and state (``counts``: index days, one column per state), and the
    running total of the ``counted`` states against the threshold line."""
    figure, (left, right) = _figure(10, 4, ncols=2)
    labels = [str(day) for day in counts.index]
    if counts.empty:
        _note(left, "no production rows yet")
    else:
        bottom = np.zeros(len(counts))
        for column in counts.columns:
            values = counts[column].to_numpy(dtype=float)
            left.bar(labels, values, bottom=bottom, label=str(column))
            bottom += values
        left.legend(fontsize=8)
        left.tick_params(axis="x", labelrotation=45, labelsize=8)
    left.set_title("rows by day and state")
    left.set_ylabel("rows")
    present = [c for c in counted if c in counts.columns]
    if present and not counts.empty:
        right.plot(labels, counts[present].sum(axis=1).cumsum().to_numpy(), marker="o", color=FIRST,
                   label=f"{counted_label} (running total)")
        right.tick_params(axis="x", labelrotation=45, labelsize=8)
    else:
        _note(right, f"no {counted_label}")
    if threshold is not None:
        right.axhline(threshold, color=THRESHOLD, linestyle="--", label=f"{threshold_label} = {threshold:g}")
    right.set_title(counted_label)
    right.legend(fontsize=8)
    figure.suptitle(title)
    return _png(figure, title)


# --- drift ------------------------------------------------------------------------------------

def drift_scores(columns: Mapping[str, Mapping[str, Any]], *, title: str = "Drift score of every column") -> Png:
    """Horizontal bars of each column's drift score (full names), drifted ones highlighted, with each threshold."""
    names = list(columns)
    figure, axes = _figure(8, 0.8 + 0.32 * max(len(names), 1))
    if not names:
        _note(axes, "no columns compared")
        return _png(figure, title)
    scores = [columns[n].get("score") or 0.0 for n in names]
    colours = [THRESHOLD if columns[n].get("drifted") else FIRST for n in names]
    positions = np.arange(len(names))
    axes.barh(positions, scores, color=colours)
    axes.set_yticks(positions, labels=names, fontsize=9)
    axes.invert_yaxis()
    for position, name in zip(positions, names):
        limit = columns[name].get("threshold")
        if limit is not None:
            axes.plot([limit, limit], [position - 0.45, position + 0.45], color="black", linewidth=1.5)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    axes.legend(handles=[Patch(color=THRESHOLD, label="drifted"), Patch(color=FIRST, label="not drifted"),
                         Line2D([], [], color="black", label="threshold (drift at or above)")],
                fontsize=8, loc="lower right")
    axes.set_xlabel("drift score (Wasserstein normed for numbers, Jensen-Shannon for categories)")
    axes.set_title(title)
    return _png(figure, title)


def distributions(reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str], *,
                  title: str = "Reference vs current, drifted columns", max_categories: int = 12) -> Png:
    """Reference beside current for each column: histograms of shares for numbers, bars of shares for categories."""
    columns = [c for c in columns if c in reference.columns and c in current.columns][:12]
    n = max(len(columns), 1)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * ncols, 3.2 * nrows), dpi=100, layout="constrained")
    grid = np.atleast_1d(figure.subplots(nrows, ncols)).ravel()
    if not columns:
        _note(grid[0], "no drifted columns")
    for axes, name in zip(grid, columns):
        ref, cur = reference[name].dropna(), current[name].dropna()
        if ref.empty or cur.empty:
            _note(axes, f"{name}: no values on one side")
            continue
        numeric = pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur) and ref.nunique() > 8
        if numeric:
            bins = np.histogram_bin_edges(pd.concat([ref, cur]).astype(float), bins=20)
            axes.hist(ref.astype(float), bins=bins, alpha=0.55, density=True, color=FIRST, label="reference")
            axes.hist(cur.astype(float), bins=bins, alpha=0.55, density=True, color=SECOND, label="current")
        else:
            shares = pd.DataFrame({"reference": ref.astype(str).value_counts(normalize=True),
                                   "current": cur.astype(str).value_counts(normalize=True)}).fillna(0.0)
            shares = shares.sort_values("reference", ascending=False).head(max_categories)
            positions = np.arange(len(shares))
            axes.bar(positions - 0.2, shares["reference"], width=0.4, color=FIRST, label="reference")
            axes.bar(positions + 0.2, shares["current"], width=0.4, color=SECOND, label="current")
            axes.set_xticks(positions, labels=list(shares.index), rotation=45, ha="right", fontsize=8)
            axes.set_ylabel("share of rows")
        axes.set_title(name, fontsize=10)
        axes.legend(fontsize=7)
    for axes in grid[len(columns) or 1:]:
        axes.set_visible(False)
    figure.suptitle(title)
    return _png(figure, title)


# --- quality ----------------------------------------------------------------------------------

def missing_shares(table: pd.DataFrame, *, title: str = "Missing values by column") -> Png:
    """Bars of the missing share per column, current beside reference (``table`` columns: column,
    missing_share, reference_missing_share)."""
    figure, axes = _figure(8, 0.8 + 0.3 * max(len(table), 1))
    if table.empty:
        _note(axes, "no columns")
        return _png(figure, title)
    positions = np.arange(len(table))
    axes.barh(positions - 0.2, table["reference_missing_share"].fillna(0), height=0.4, color=FIRST, label="reference")
    axes.barh(positions + 0.2, table["missing_share"].fillna(0), height=0.4, color=SECOND, label="current")
    axes.set_yticks(positions, labels=list(table["column"]), fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel("share of rows missing")
    axes.legend(fontsize=8)
    axes.set_title(title)
    return _png(figure, title)


# --- performance ------------------------------------------------------------------------------

def confusion_matrix(matrix: Sequence[Sequence[int]], *, title: str = "Confusion matrix") -> Png:
    """The 2x2 counts (rows: true class 0/1, columns: issued label 0/1) with their shares."""
    counts = np.asarray(matrix, dtype=float)
    figure, axes = _figure(4.4, 3.8)
    axes.imshow(counts, cmap="Blues")
    total = counts.sum() or 1.0
    for (i, j), value in np.ndenumerate(counts):
        axes.text(j, i, f"{int(value)}\n({value / total:.1%})", ha="center", va="center",
                  color="white" if value > counts.max() / 2 else "black")
    axes.set_xticks([0, 1], labels=["no risk (0)", "at risk (1)"])
    axes.set_yticks([0, 1], labels=["no depression (0)", "depression (1)"])
    axes.set_xlabel("issued label")
    axes.set_ylabel("reported outcome")
    axes.set_title(title)
    return _png(figure, title)


def roc_curves(curves: Mapping[str, tuple[Any, Any]], *, title: str = "ROC curve") -> Png:
    """ROC curves of one or more models: ``{name: (y_true, probability)}``, each labelled with its area."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, axes = _figure(5, 4.4)
    for (name, (y, p)), colour in zip(curves.items(), (FIRST, SECOND, "#55A868", "#8172B3")):
        y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
        if np.unique(y).size < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        axes.plot(fpr, tpr, color=colour, label=f"{name} (ROC-AUC {roc_auc_score(y, p):.3f})")
    axes.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="chance")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title(title)
    return _png(figure, title)


def calibration_curves(curves: Mapping[str, tuple[Any, Any]], *, bins: int = 10,
                       title: str = "Calibration (reliability) curve") -> Png:
    """Observed rate against mean probability in equal-count bins, per model; the diagonal is perfect calibration."""
    figure, axes = _figure(5, 4.4)
    for (name, (y, p)), colour in zip(curves.items(), (FIRST, SECOND, "#55A868", "#8172B3")):
        y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
        if p.size == 0:
            continue
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
        mean_p = np.array([p[which == k].mean() for k in np.unique(which)])
        rate = np.array([y[which == k].mean() for k in np.unique(which)])
        gap = float(np.mean(np.abs(mean_p - rate)))
        axes.plot(mean_p, rate, marker="o", color=colour, label=f"{name} (mean |gap| {gap:.3f})")
    axes.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfectly calibrated")
    axes.set_xlabel("mean predicted probability (bin)")
    axes.set_ylabel("observed depression rate (bin)")
    axes.legend(fontsize=8, loc="upper left")
    axes.set_title(title)
    return _png(figure, title)


def estimated_performance(estimate: Mapping[str, Any], realized: Mapping[str, Any] | None = None, *,
                          title: str = "Performance estimated without labels (CBPE)") -> Png:
    """Each metric's estimate with its band; the realized value beside it when labels are known."""
    metrics = [name for name, band in (estimate.get("metrics") or {}).items() if band.get("estimate") is not None]
    figure, axes = _figure(6, 3.6)
    if not metrics:
        _note(axes, "nothing to estimate")
        return _png(figure, title)
    positions = np.arange(len(metrics))
    values = np.array([estimate["metrics"][m]["estimate"] for m in metrics])
    lower = values - np.array([estimate["metrics"][m]["lower"] for m in metrics])
    upper = np.array([estimate["metrics"][m]["upper"] for m in metrics]) - values
    level = estimate.get("level", 0.95)
    axes.errorbar(positions - 0.1, values, yerr=[lower, upper], fmt="o", color=FIRST, capsize=6,
                  label=f"estimated ({estimate.get('rows')} rows, {level:.0%} band)")
    if realized:
        shown = [(k, realized.get(m)) for k, m in enumerate(metrics) if realized.get(m) is not None]
        if shown:
            axes.scatter([positions[k] + 0.1 for k, _ in shown], [v for _, v in shown], marker="D", color=SECOND,
                         label="realized (labelled rows)", zorder=3)
    axes.set_xticks(positions, labels=[m.replace("_", "-").upper() if m == "roc_auc" else m for m in metrics])
    axes.set_ylabel("value")
    axes.legend(fontsize=8)
    axes.set_title(title)
    return _png(figure, title)


# --- trends -----------------------------------------------------------------------------------

OUTCOME_COLOURS = {"promoted": "#55A868", "refused": "#C44E52", "skipped": "0.6", "failed": "black", "reported": FIRST}


def trends(frame: pd.DataFrame, *, title: str = "Trends across runs") -> Png:
    """Four panels over time from :func:`mindpulse.trends.trend_frame`: drift share; realized and estimated
    ROC-AUC, accuracy and F1 (bands shaded); labelled rows waiting; retrain outcomes on the champion's timeline."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 9), dpi=100, layout="constrained")
    (drift_ax, perf_ax), (wait_ax, model_ax) = figure.subplots(2, 2, sharex=True)
    if frame.empty:
        _note(drift_ax, "no runs yet")
        return _png(figure, title)
    shown = frame.dropna(subset=["drift_share"])
    drift_ax.plot(shown["created_at"], shown["drift_share"], marker="o", color=FIRST)
    drift_ax.set_title("drifted share of columns")
    for name, colour in zip(("roc_auc", "accuracy", "f1"), (FIRST, SECOND, "#55A868")):
        realized = frame.dropna(subset=[name])
        perf_ax.plot(realized["created_at"], realized[name], marker="o", color=colour, label=f"{name} realized")
        estimated = frame.dropna(subset=[f"estimated_{name}"])
        if len(estimated):
            perf_ax.plot(estimated["created_at"], estimated[f"estimated_{name}"], marker="s", linestyle="--",
                         color=colour, label=f"{name} estimated")
            perf_ax.fill_between(estimated["created_at"], estimated[f"estimated_{name}_lower"],
                                 estimated[f"estimated_{name}_upper"], color=colour, alpha=0.15)
    perf_ax.set_title("performance: realized (labels) and estimated (CBPE, band)")
    perf_ax.legend(fontsize=7, ncols=2)
    waiting = frame.dropna(subset=["waiting_rows"])
    wait_ax.bar(waiting["created_at"], waiting["waiting_rows"], width=0.02, color=FIRST)
    wait_ax.plot(waiting["created_at"], waiting["waiting_rows"], marker="o", color=FIRST)
    wait_ax.set_title("labelled rows waiting (retrain runs)")
    retrain = frame[frame["dag_id"].astype(str).str.contains("retrain")]
    versions = retrain["champion_after"].dropna()
    if len(versions):
        numbers = versions.astype(str).str.extract(r"(\d+)$")[0].astype(float)
        model_ax.step(retrain.loc[versions.index, "created_at"], numbers, where="post", color="0.4", label="champion")
        for outcome, colour in OUTCOME_COLOURS.items():
            chosen = retrain[retrain["outcome"] == outcome]
            if len(chosen):
                y = chosen["champion_after"].astype(str).str.extract(r"(\d+)$")[0].astype(float)
                model_ax.scatter(chosen["created_at"], y, color=colour, label=outcome, zorder=3)
        model_ax.legend(fontsize=7)
    else:
        _note(model_ax, "no retrain runs yet")
    model_ax.set_title("retrain outcomes and the champion version")
    model_ax.set_ylabel("champion version number")
    for axes in (wait_ax, model_ax):
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.suptitle(title)
    return _png(figure, title)
