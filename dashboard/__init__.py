"""The MindPulse dashboard: stores (param classes that call the package), views (Panel
``Viewer`` classes given a store) and ``app.py``, the one module that serves a page.

Start it with ``python -m dashboard`` (localhost, port 5006, reports served as static files).
"""

#: The static route under which the reports folder is served (``--static-dirs reports=DIR``).
REPORTS_ROUTE = "reports"
