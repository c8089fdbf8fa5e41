"""Serve the dashboard: ``python -m dashboard [--address 127.0.0.1] [--port 5006] [-- PANEL ARGS]``.

Binds to localhost unless told otherwise, and serves the reports folder as static files so
the Reports page can show Evidently HTML in iframes. Anything after ``--`` goes to
``panel serve`` as it is (for example ``--basic-auth``, ``--cookie-secret`` or ``--oauth-provider``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dashboard import REPORTS_ROUTE

APP_PATH = Path(__file__).resolve().parent / "app.py"
#: Run once at server start: loads the model so the first prediction is as fast as the others.
WARMUP_PATH = Path(__file__).resolve().parent / "warmup.py"
#: Sign-in with MindPulse accounts (a Bokeh auth module).
AUTH_PATH = Path(__file__).resolve().parent / "auth.py"
#: Where the secret that signs sessions is kept (in DATA_DIR) when PANEL_COOKIE_SECRET is not set.
SESSION_SECRET_FILE = ".dashboard-session-secret"


def serve_command(reports_dir: Path, *, address: str = "127.0.0.1", port: int = 5006,
                  extra: Sequence[str] = (), python: str = sys.executable) -> list[str]:
    """The ``panel serve`` command line for the dashboard."""
    command = [
        python, "-m", "panel", "serve", str(APP_PATH),
        "--address", address,
        "--port", str(port),
        "--static-dirs", f"{REPORTS_ROUTE}={reports_dir}",
        "--setup", str(WARMUP_PATH),
        # Host allow-list, security headers and bad paths on every route (dashboard/http_policy.py)
        "--plugins", "dashboard.http_policy",
        # Sign-in with MindPulse accounts; the form and every POST carry an XSRF token.
        "--auth-module", str(AUTH_PATH),
        "--enable-xsrf-cookies",
    ]
    if address in ("127.0.0.1", "localhost") and port:
        command += ["--allow-websocket-origin", f"localhost:{port}",
                    "--allow-websocket-origin", f"127.0.0.1:{port}"]
    return [*command, *extra]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=os.environ.get("MINDPULSE_DASHBOARD_ADDRESS", "127.0.0.1"),
                        help="Interface to bind (default 127.0.0.1: this machine only).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MINDPULSE_DASHBOARD_PORT", "5006")),
                        help="Port (default 5006; 0 picks a free one).")
    args = parser.parse_args(argv)

    from mindpulse.settings import get_settings

    reports_dir = Path(get_settings().reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)  # panel refuses to serve a missing folder
    command = serve_command(reports_dir, address=args.address, port=args.port, extra=extra)
    env = dict(os.environ)
    if not env.get("PANEL_COOKIE_SECRET"):  # signs the session cookies: one per home, kept across restarts
        from mindpulse.accounts import session_secret

        env["PANEL_COOKIE_SECRET"] = session_secret(get_settings().data_dir / SESSION_SECRET_FILE)
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
