"""Everything the page loads comes from the dashboard itself: no fonts, icons or scripts from a CDN.

Panel and Bokeh serve their own JavaScript and CSS from ``panel serve`` (``/static``). What is
left are three outside requests, removed here:

* the Fast design's Google font (Open Sans): the page uses the system's own sans-serif fonts;
* Bokeh's tabler icon font (jsdelivr), loaded whenever a widget names a tabler icon: buttons get
  their icon as inline SVG instead (:data:`ICONS`, from Tabler Icons, MIT licence);
* Panel's own CSS from its CDN, linked when a component that left the page is updated:
  :func:`pin_panel_files_to_this_server` keeps the links on this server;
* nbconvert's require.js, MathJax and Mermaid from cdnjs in a rendered notebook: the notebook
  pages use a template without them (the pipeline's notebooks have no JavaScript outputs, LaTeX
  or diagrams that would need them).
"""

from __future__ import annotations

import panel as pn
from panel.io.resources import LOCAL_DIST, patch_stylesheet
from panel.theme.fast import Fast

#: Fonts the operating system already has, in the order a browser should try them.
SYSTEM_FONTS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


#: Panel's Fast design without its web font (everything else it needs is served locally). It
#: keeps the name ``Fast``: Panel finds a design's bundled files by its lower-cased class name.
OfflineFast = type("Fast", (Fast,), {
    "__module__": __name__,
    "__doc__": "Panel's Fast design without its web font.",
    "_resources": {kind: value for kind, value in Fast._resources.items() if kind != "font"},
})


def _tabler(paths: str) -> str:
    return ('<svg xmlns="http://www.w3.org/2000/svg" class="icon icon-tabler" width="24" height="24" '
            'viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" '
            f'stroke-linejoin="round"><path stroke="none" d="M0 0h24v24H0z" fill="none"/>{paths}</svg>')


def pin_panel_files_to_this_server() -> None:
    """Make the session's Panel stylesheet links relative (``./static/extensions/panel/...``).

    Panel rewrites a shared stylesheet link to its CDN (``cdn.holoviz.org``) when a component that
    has left the page (a tab closed while its refresh still ran) is updated; a link that starts
    with ``./`` is left alone by that rewrite. Call it once the page is loaded (``pn.state.onload``).
    """
    doc = pn.state.curdoc
    if doc is None:
        return
    dist_url = f"{pn.state.rel_path or '.'}/{LOCAL_DIST}"
    doc._template_variables["dist_url"] = dist_url  # what Panel links new components' CSS to
    for stylesheet in list(pn.state._stylesheets.get(doc, {}).values()):
        patch_stylesheet(stylesheet, dist_url)


#: Inline SVG icons for buttons (``pn.widgets.Button(icon=ICONS["activity"])``): a tabler icon
#: *name* would make Bokeh fetch the icon font from jsdelivr.
ICONS = {
    "activity": _tabler('<path d="M3 12h4l3 8l4 -16l3 8h4" />'),
}

#: nbconvert's lab template without the scripts it would fetch from cdnjs.
#: A notebook page rendered with it says so early in its head (older renderings are redone).
RENDER_MARKER = '<meta name="mindpulse-render" content="offline">'
NOTEBOOK_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}""" + RENDER_MARKER + """{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""
NOTEBOOK_TEMPLATE_NAME = "mindpulse_offline.html.j2"


def notebook_exporter():
    """An nbconvert ``HTMLExporter`` whose pages need nothing from outside hosts."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file=NOTEBOOK_TEMPLATE_NAME,
                        extra_loaders=[DictLoader({NOTEBOOK_TEMPLATE_NAME: NOTEBOOK_TEMPLATE})])
