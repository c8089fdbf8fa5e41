#!/usr/bin/env bash
# One-shot set-up of a MindPulse deployment (the airflow-init service), safe to run again:
# migrate Airflow's metadata database and the MindPulse store, make the two Airflow users from
# .env (their passwords are set on every run: that is how they are rotated), seed the
# JupyterLab workspace, and bootstrap synthetic reference data when MINDPULSE_BOOTSTRAP asks.
set -euo pipefail

log() { echo "airflow-init: $*"; }

# The preflight service checked every secret; check again the ones this service was given,
# in case it is run on its own (docker compose run airflow-init).
bash "$(dirname "$0")/check-env.sh" --only-set

log "migrating the Airflow metadata database"
airflow db migrate

# The two Airflow users from .env: created, or their passwords set (how they are rotated), in one
# Python process that reads the passwords from the environment (never from a command line).
python "$(dirname "$0")/airflow_users.py"

log "migrating the MindPulse store"
mindpulse store migrate

# The first MindPulse admin (API accounts) from .env, read from the environment: created, or its
# password set (how it is rotated).
mindpulse users ensure-admin

# JupyterLab users explore copies; the pipeline runs the versioned notebooks of the image.
workspace=${MINDPULSE_HOME:-/opt/mindpulse}/workspace
if [[ -d $workspace && -z $(ls -A "$workspace") ]]; then
    cp -r "${MINDPULSE_HOME:-/opt/mindpulse}/notebooks/." "$workspace/"
    log "JupyterLab workspace seeded with the pipeline's notebooks"
fi

case "${MINDPULSE_BOOTSTRAP:-none}" in
    none)
        log "no bootstrap: ingest the real dataset (see README, Production) before the first retrain"
        ;;
    synthetic)
        log "bootstrap: synthetic reference data if none is there"
        mindpulse platform prepare
        ;;
    *)
        echo "airflow-init: MINDPULSE_BOOTSTRAP='${MINDPULSE_BOOTSTRAP}' is not accepted: 'none' or 'synthetic' are" >&2
        exit 1
        ;;
esac
log "done"
