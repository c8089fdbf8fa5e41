"""The README's screenshots: a PNG of each dashboard page, taken in Chromium on a demo home.

Run from the repository root:  ``.venv/bin/python -m scripts.screenshots``
(``--out DIR``, default ``docs/screenshots``; ``--home DIR`` to reuse a prepared home;
``--airflow`` to start a throwaway Airflow so the Pipelines page shows its runs). It prepares a
small home as the tests do (reference data, a champion, its backup and a refused version, two
report runs), starts ``python -m dashboard`` on a free port with one account per role, signs in
as the admin and saves each page at 1280x800.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

VIEWPORT = {"width": 1280, "height": 800}
#: Evidently draws its charts with its own scripts after the page loaded.
REPORT_DRAW_SECONDS = 4.0


def _settle(seconds: float = 0.5) -> None:
    # Bokeh lays out after the last server update; a moment later the page is still.
    time.sleep(seconds)


def _open(page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).first.click()


def _save(page, folder: Path, name: str, *, top: bool = True) -> Path:
    """A viewport PNG (from the page's tabs down, unless ``top`` is False), reduced to 256 colours
    (the pages are flat: a quarter of the bytes, the same look)."""
    from PIL import Image

    if top:
        page.locator(".bk-tab").first.scroll_into_view_if_needed()
        _settle(0.3)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    reduced.save(path, optimize=True)
    return path


def save_screenshots(page, folder: Path) -> list[Path]:
    """A PNG of each page in a state that shows what it is for."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []

    # Three predictions (the Feedback page then has outcomes to accept); the last on typical answers.
    age = page.get_by_label("Age (years)")
    typical_age = age.input_value()
    latest = None
    for value in ["19", "23", typical_age]:
        age.fill(value)
        age.press("Tab")
        page.get_by_role("button", name="Predict", exact=True).click()
        logged = (page.get_by_text(re.compile(r"logged as prediction #\d+")) if latest is None
                  else page.get_by_text(f"logged as prediction #{latest + 1}", exact=False))
        logged.wait_for()
        latest = int(re.search(r"prediction #(\d+)", logged.inner_text()).group(1))
    _settle()
    saved.append(_save(page, folder, "predict"))

    _open(page, "Feedback")
    page.get_by_role("button", name="Depressed (1)").click()
    page.get_by_role("button", name="Save outcome").click()
    page.get_by_text("Saved: prediction").wait_for()
    outcomes = f"prediction_id,Depression\n{latest - 1},0\n{latest - 2},1\n999999,1\n{latest},maybe\n"
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "outcomes.csv", "mimeType": "text/csv", "buffer": outcomes.encode()}])
    page.get_by_text("is ready: press").wait_for()  # the file reached the server
    page.get_by_role("button", name="Import outcomes").click()
    page.get_by_text("outcomes accepted").wait_for()
    _settle()
    saved.append(_save(page, folder, "feedback"))

    _open(page, "Reports")
    page.get_by_label("Report run").select_option(index=0)
    page.get_by_role("button", name="Open", exact=True).click()
    page.frame_locator("iframe").first.locator("body").wait_for()
    page.locator(".bk-tab", has_text="Notebook:").first.wait_for()
    _settle(REPORT_DRAW_SECONDS)
    saved.append(_save(page, folder, "reports"))

    _open(page, "Trends")
    page.locator(".bk-Canvas, canvas").first.wait_for()
    _settle(1.0)
    saved.append(_save(page, folder, "trends"))

    _open(page, "Models")
    page.get_by_role("gridcell", name="champion", exact=True).wait_for()
    _settle()
    saved.append(_save(page, folder, "models"))

    _open(page, "Pipelines")
    page.get_by_text(re.compile("Airflow is not reachable|Connected to Airflow")).wait_for()
    if page.get_by_text("Connected to Airflow").is_visible():
        page.get_by_role("checkbox").filter(visible=True).first.check()  # Bokeh leaves it unnamed
        page.get_by_role("button", name="Start retrain").click()
        page.get_by_text("Started run").wait_for()
        page.get_by_role("button", name="Start reporting run").click()
        page.get_by_role("gridcell", name=re.compile("queued|running|success")).nth(1).wait_for()
    _settle()
    saved.append(_save(page, folder, "pipelines"))

    _open(page, "Audit")
    page.get_by_role("gridcell", name=re.compile("sign_in|predict|outcome")).first.wait_for()
    _settle()
    saved.append(_save(page, folder, "audit"))
    return saved


@contextmanager
def airflow_for(home: Path, airflow_home: Path) -> Iterator[dict[str, str]]:
    """A throwaway Airflow whose DAGs see ``home``; yields the dashboard's MINDPULSE_AIRFLOW_* variables.

    New DAGs start paused, so the runs the screenshot starts stay queued (no notebook runs).
    """
    from tests import airflow_support as af

    env = af.airflow_env(airflow_home, extra={"MINDPULSE_HOME": str(home)})
    af.migrate(env)
    airflow = af.AirflowProcesses(env, ("api-server", "scheduler", "dag-processor"))
    try:
        airflow.start()
        with airflow.client() as client:
            for dag_id in ("ml_retrain_pipeline", "evidently_reporting_pipeline"):
                af.wait_for_dag(client, dag_id, timeout=240)
        yield {"MINDPULSE_AIRFLOW_API_URL": airflow.url, "MINDPULSE_AIRFLOW_USERNAME": af.ADMIN_USER,
               "MINDPULSE_AIRFLOW_PASSWORD": af.admin_password(airflow.home)}
    finally:
        airflow.stop()


def take(url: str, folder: Path) -> list[Path]:
    """Sign in as the admin on the dashboard at ``url`` and save every page into ``folder``."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard_support import chromium_launch_args, signed_in_context_args

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_args())
        try:
            context = browser.new_context(**signed_in_context_args({"viewport": VIEWPORT}, username="admin"))
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("button", name="Predict", exact=True).wait_for()
            return save_screenshots(page, folder)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"), help="Folder for the PNGs.")
    parser.add_argument("--home", type=Path, default=None, help="A prepared home to reuse (made if missing).")
    parser.add_argument("--airflow", action="store_true",
                        help="Start a throwaway Airflow (api-server, scheduler, dag-processor) for the Pipelines page.")
    args = parser.parse_args(argv)

    from tests.dashboard_support import ensure_prepared, serve_dashboard

    with tempfile.TemporaryDirectory(prefix="mindpulse-screenshots-") as scratch:
        home = args.home or Path(scratch) / "home"
        ensure_prepared(home)
        with ExitStack() as stack:
            env = stack.enter_context(airflow_for(home, Path(scratch) / "airflow")) if args.airflow else {}
            server = stack.enter_context(serve_dashboard(home, env=env))
            saved = take(server.url, args.out)
    for path in saved:
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
