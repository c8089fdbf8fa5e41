"""The HTTP API for the systems around MindPulse (``mindpulse api`` serves it).

``create_app(settings)`` builds the FastAPI application; see :mod:`mindpulse.api.app` for the
routes and :mod:`mindpulse.api.security` for who may call what. Importing this package opens
nothing and imports no web framework.
"""

API_PREFIX = "/api/v1"
