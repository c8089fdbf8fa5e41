"""Run once when the server starts (``panel serve --setup``), before it accepts a browser.

Imports the pages' modules, loads the champion model, the production store and the form's
defaults into the process's caches (``dashboard.stores``), and scores one answer, so the first press of Predict costs what
the later ones do. A failure here is logged and the server starts anyway: each page reports
its own problem when it is used.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import logging
import signal
import sys
import time
from pathlib import Path

if importlib.util.find_spec("dashboard") is None:  # run as a script by panel serve
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("mindpulse.dashboard")

# What is a stuck server doing? `kill -USR1 <pid>` prints every thread's stack to its output.
if hasattr(signal, "SIGUSR1"):
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def warm_up() -> str | None:
    """Fill the caches the first prediction needs; returns the champion's version (None if none)."""
    import dashboard.views  # noqa: F401 - the pages' modules (Panel, hvplot): the first page loads sooner
    from dashboard.stores.predict import PredictionStore
    from mindpulse.settings import get_settings

    return PredictionStore(settings=get_settings()).warm_up()


started = time.perf_counter()
try:
    version = warm_up()
except Exception:  # noqa: BLE001 - the server must start; the pages show what is wrong
    log.exception("dashboard warm-up failed; the first prediction will load the model")
else:
    print(f"MindPulse dashboard warmed up in {time.perf_counter() - started:.1f} s "
          f"(champion: {version or 'none yet'})", flush=True)
