"""Preparing a home for the platform: reference data, a first champion, demo data, an admin.

Any folder, even an empty one, can be the home. An empty home becomes a demo home (synthetic
reference data and simulated traffic with feedback, added once, and recorded as such); any other
home must hold the user's reference data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mindpulse.commands import fail

#: The MindPulse admin made for a new home (dashboard and HTTP API), as Airflow's standalone makes its own.
MINDPULSE_PASSWORD_FILE = "mindpulse_passwords.json.generated"
MINDPULSE_ADMIN = "admin"


def prepare_reference(settings: Any, seed: int, demo: bool | None, *, by: str) -> Any:
    """Reference data for the run: synthetic in a demo home (which it records), else the user's, which must be there.

    Returns the demo decision; a home that cannot run ends the command with one line.
    """
    from mindpulse.pipeline import demo as demo_home

    try:
        decision = demo_home.decide_demo(settings, demo)
        if decision.demo:
            demo_home.mark_demo_home(settings, seed=seed, by=by)
            typer.echo(f"Demo home ({decision.reason}): {demo_home.demo_marker_path(settings)}")
            typer.echo(demo_home.generate_demo_reference(settings, seed=seed))
        else:
            demo_home.require_reference(settings)
            typer.echo(f"Reference data: {settings.reference_path} (kept)")
    except demo_home.DemoRefused as exc:
        fail(str(exc))
    return decision


def prepare_data(settings: Any, seed: int | None, demo: bool | None = None) -> None:
    """The reference and a first champion; in a demo home, synthetic data and its traffic, added once."""
    from mindpulse import pipeline
    from mindpulse.pipeline import demo as demo_home

    seed = settings.seed if seed is None else seed
    decision = prepare_reference(settings, seed, demo, by="platform run")
    typer.echo("First champion: training on the reference data if there is none (about 30-60 s) ...")
    typer.echo(f"  champion: {pipeline.train_first_champion(settings, seed=seed)}")
    if not decision.demo:
        typer.echo(f"Production traffic: none added ({decision.reason}: no demo data); predictions logged "
                   "('predict --log', the dashboard) and outcomes fed back ('feedback') make the retrain's data")
        return
    traffic = demo_home.add_demo_traffic(settings, days=4, rows_per_day=300, drift_days=2, seed=seed + 1)
    if isinstance(traffic, str):
        typer.echo(f"Production traffic: none added ({traffic})")
        return
    typer.echo(f"Production traffic: {traffic['predictions_logged']} predictions over {traffic['days']} days "
               f"(the last {traffic['drift_days']} in exam season), {traffic['feedback_recorded']} with feedback; "
               f"{traffic['pending']} labelled rows wait for a retrain")


def ensure_admin(settings: Any, airflow_home: Path) -> bool:
    """A MindPulse admin for the dashboard and the API: made with a generated password (written to
    ``MINDPULSE_PASSWORD_FILE``) when the home has no active admin. True when made now."""
    from mindpulse.accounts import Accounts
    from mindpulse.store import Store

    with Store.from_settings(settings) as store:
        _, created = Accounts(store).ensure_admin(airflow_home / MINDPULSE_PASSWORD_FILE, MINDPULSE_ADMIN)
    return created
