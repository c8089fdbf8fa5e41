"""Make the deployment's two Airflow users (FAB), or set their passwords from .env when they exist.

Run by airflow-init.sh, with Airflow's own Python. One process and one FAB application for both
users: each ``airflow users create`` / ``reset-password`` is an Airflow start of its own (~4 s),
and the init ran up to four of them. The passwords are read from the environment, never from the
command line, where any user of the machine could read them in the process list.

An existing user keeps its role and details; only its password is set (that is how passwords are
rotated: change .env, run airflow-init again).
"""

from __future__ import annotations

import os
import sys

# (username variable, password variable, email or None for <username>@mindpulse.invalid, role)
USERS = (
    ("AIRFLOW_ADMIN_USERNAME", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_ADMIN_EMAIL", "Admin"),
    # The dashboard lists and triggers runs: the User role can, without admin rights.
    ("MINDPULSE_AIRFLOW_USERNAME", "MINDPULSE_AIRFLOW_PASSWORD", None, "User"),
)


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"airflow-init: {name} is not set (see .env.example)")
    return value


def main() -> None:
    wanted = [(_required(user), _required(password), _required(email) if email else None, role)
              for user, password, email, role in USERS]

    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded

    @providers_configuration_loaded
    def ensure() -> None:
        with get_application_builder() as appbuilder:
            security = appbuilder.sm
            for username, password, email, role_name in wanted:
                user = security.find_user(username=username)
                if user is None:
                    role = security.find_role(role_name)
                    if role is None:
                        sys.exit(f"airflow-init: no Airflow role {role_name!r} (roles: {security.get_all_roles()})")
                    if not security.add_user(username, "MindPulse", role_name, email or f"{username}@mindpulse.invalid",
                                             role, password):
                        sys.exit(f"airflow-init: could not create the Airflow user '{username}'")
                    print(f"airflow-init: user '{username}' created with role {role_name}", flush=True)
                else:
                    if not security.reset_password(user.id, password):
                        sys.exit(f"airflow-init: could not set the password of the Airflow user '{username}'")
                    print(f"airflow-init: user '{username}' exists: password set from .env", flush=True)

    ensure()


if __name__ == "__main__":
    main()
