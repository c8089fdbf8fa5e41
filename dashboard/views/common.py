"""Pieces every page uses: the disclaimer, messages, and running a slow action off the loop."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import panel as pn
from tornado.ioloop import IOLoop

from mindpulse import contract as c

from dashboard.stores.common import DashboardError

log = logging.getLogger("mindpulse.dashboard")
T = TypeVar("T")

DISCLAIMER = (
    "**MindPulse is a screening aid, not a diagnosis.** A risk estimate from a short survey "
    "cannot tell whether someone is depressed; only a qualified professional can. "
    "If you or a student is in immediate danger, contact local emergency services or a crisis "
    "line now. Otherwise, talk to a qualified counsellor, the student support service or a doctor."
)

ERROR_STYLE = {"color": "#b00020", "font-size": "0.85em", "margin-top": "0"}


#: Markdown's inline markup (emphasis, code, links and images, strike-through, math, tables) and its
#: escape character; ``_`` only where it can open or close emphasis, so snake_case names read as written.
_MARKDOWN_INLINE = re.compile(r"([\\`*\[\]~$|])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
#: What starts a block at the beginning of a line: a heading, a list item, a setext underline, a numbered item.
_MARKDOWN_BLOCK = re.compile(r"^([ \t]*)(?:([#+=-])|(\d+)([.)]))", re.MULTILINE)


def _escape_block(match: re.Match[str]) -> str:
    lead, marker, number, delimiter = match.groups()
    return f"{lead}\\{marker}" if marker else f"{lead}{number}\\{delimiter}"


def literal(value: Any) -> str:
    """``value`` (a name, a figure or a message a user or a file supplied) as literal text in a Markdown pane.

    Every pane of the dashboard renders Markdown with raw HTML allowed, so a run folder named
    ``<img src=x onerror=...>`` would run its script. HTML is escaped (``<``, ``>``, ``&``) and
    Markdown's markup characters are backslash-escaped: the page shows the text as it was written.
    """
    text = _MARKDOWN_INLINE.sub(lambda match: "\\" + match.group(0), str(value))
    return html.escape(_MARKDOWN_BLOCK.sub(_escape_block, text), quote=False)


def code(value: Any) -> str:
    """``value`` as an inline code span in Markdown, whatever backticks it holds (CommonMark's rule:
    a fence of more backticks than any run inside). Markdown shows a code span's content literally
    and escapes its HTML."""
    text = str(value).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def disclaimer(**params: Any) -> pn.pane.Alert:
    """The screening-aid notice, shown wherever a prediction is."""
    return pn.pane.Alert(DISCLAIMER, alert_type="warning", sizing_mode="stretch_width",
                         css_classes=["mp-disclaimer"], **params)


def field_error() -> pn.pane.Markdown:
    """An empty, hidden message placed under a field; ``show_error`` fills it."""
    return pn.pane.Markdown("", styles=ERROR_STYLE, visible=False, margin=(0, 10), css_classes=["mp-field-error"])


def show_error(pane: pn.pane.Markdown, message: str | None) -> None:
    """Show a field's message under it; the message echoes what was typed, so it is shown literally."""
    pane.object = literal(message) if message else ""
    pane.visible = bool(message)


def message_for(error: BaseException) -> str:
    """Words for an error a user caused or can act on, as literal Markdown (errors echo input and file
    names); anything else is logged, not shown raw."""
    if isinstance(error, (DashboardError, c.ContractError, FileNotFoundError)):
        return literal(error)
    log.exception("unexpected error in the dashboard", exc_info=error)
    return literal(f"Something went wrong ({type(error).__name__}: {error}). The server log has the details.")


def status_alert() -> pn.pane.Alert:
    """A message line for the result of an action; hidden until there is one."""
    return pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")


def show_status(alert: pn.pane.Alert, text: str | None, kind: str = "info") -> None:
    alert.object = text or ""
    alert.alert_type = kind
    alert.visible = bool(text)


def on_session_loop(callback: Callable[[], Any]) -> Callable[..., None]:
    """A param watcher that runs ``callback`` on the event loop of the session that made the view.

    The stores' methods run in worker threads (:func:`run_busy`) and change their params there
    (a new prediction, one more outcome stored); a view updated from that thread raced the
    event loop for the Bokeh document and could leave the page frozen: the Import button left
    disabled and no message, with the server idle (seen in Chromium at load ~4, one run in
    ten). Even queuing the update (``add_next_tick_callback``) touches the document: its hold
    state and held events, which Panel's dispatch of the session's own changes reads and clears
    on the loop. So the worker only hands the update to the loop (Tornado's ``add_callback``,
    safe from any thread), and the loop queues it on the document. Without a server session (a
    view built in a test), it runs at once.
    """
    doc = pn.state.curdoc
    loop = IOLoop.current() if doc is not None and doc.session_context is not None else None

    def queue_on_document() -> None:
        try:
            doc.add_next_tick_callback(callback)
        except RuntimeError:  # the session closed meanwhile: nothing left to update
            log.debug("session closed before a view update", exc_info=True)

    def watcher(*_event: Any) -> None:
        if loop is None:
            callback()
            return
        try:
            loop.add_callback(queue_on_document)
        except RuntimeError:  # the server is shutting down (its loop closed): no page to update
            log.debug("event loop closed before a view update", exc_info=True)

    return watcher


async def run_busy(widgets: Iterable[pn.viewable.Viewable], func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` in a worker thread while ``widgets`` are disabled and show a loading state.

    The page stays responsive (the server's event loop is free) and a second click cannot
    start the same action twice. For actions that can take seconds (a prediction, ~10 ms, is
    made in its click: see ``PredictView.predict``).
    """
    widgets = list(widgets)
    for widget in widgets:
        widget.loading = True
        if hasattr(widget, "disabled"):
            widget.disabled = True
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    finally:
        for widget in widgets:
            widget.loading = False
            if hasattr(widget, "disabled"):
                widget.disabled = False


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def without(layout: Any, *widgets: Any, headings: tuple[str, ...] = ()) -> None:
    """Take ``widgets`` (and Markdown panes starting with one of ``headings``) out of ``layout`` and the
    layouts in it: controls a role may not use are not sent to its browser at all, not merely hidden."""
    def unwanted(item: Any) -> bool:
        if any(item is widget for widget in widgets):
            return True
        return bool(headings) and isinstance(item, pn.pane.Markdown) and str(item.object).startswith(headings)

    kept = []
    for item in layout.objects:
        if unwanted(item):
            continue
        if isinstance(item, pn.layout.ListLike):
            without(item, *widgets, headings=headings)
            if not item.objects:
                continue
        kept.append(item)
    layout.objects = kept
