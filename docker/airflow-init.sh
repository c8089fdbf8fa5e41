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

# ensure_user USERNAME PASSWORD EMAIL ROLE: create the user, or set its password from .env.
# (`users create` leaves an existing user alone and says so; `users list` output is not clean
# JSON, Airflow's warnings share its stdout.) Every value is passed as --option=VALUE: a
# password beginning with '-' would otherwise be read as an option.
ensure_user() {
    local username=$1 password=$2 email=$3 role=$4 output
    if ! output=$(airflow users create --username="$username" --password="$password" --email="$email" \
            --role="$role" --firstname=MindPulse --lastname="$role" 2>&1); then
        echo "$output" >&2
        echo "airflow-init: could not create the Airflow user '$username'" >&2
        exit 1
    fi
    if grep -q "already exist" <<<"$output"; then
        airflow users reset-password --username="$username" --password="$password" >/dev/null
        log "user '$username' exists: password set from .env"
    else
        log "user '$username' created with role $role"
    fi
}

ensure_user "$AIRFLOW_ADMIN_USERNAME" "$AIRFLOW_ADMIN_PASSWORD" "$AIRFLOW_ADMIN_EMAIL" Admin
# The dashboard lists and triggers runs: the User role can, without admin rights.
ensure_user "$MINDPULSE_AIRFLOW_USERNAME" "$MINDPULSE_AIRFLOW_PASSWORD" "${MINDPULSE_AIRFLOW_USERNAME}@mindpulse.invalid" User

log "migrating the MindPulse store"
mindpulse store migrate

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
