#!/usr/bin/env bash
# Run once by the postgres image (docker-entrypoint-initdb.d) when its volume is empty: one
# role and one database for Airflow's metadata, another for the MindPulse store, so neither
# application can read or change the other's tables.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD must be set}"
: "${MINDPULSE_DB_PASSWORD:?MINDPULSE_DB_PASSWORD must be set}"
AIRFLOW_DB_NAME=${AIRFLOW_DB_NAME:-airflow}
MINDPULSE_DB_NAME=${MINDPULSE_DB_NAME:-mindpulse}

# psql variables (:'name' quotes a literal, :"name" an identifier): no secret is spliced into SQL.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v airflow_db="$AIRFLOW_DB_NAME" -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v mindpulse_db="$MINDPULSE_DB_NAME" -v mindpulse_password="$MINDPULSE_DB_PASSWORD" <<'SQL'
CREATE ROLE :"airflow_db" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"airflow_db" OWNER :"airflow_db";
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;
CREATE ROLE :"mindpulse_db" LOGIN PASSWORD :'mindpulse_password';
CREATE DATABASE :"mindpulse_db" OWNER :"mindpulse_db";
REVOKE ALL ON DATABASE :"mindpulse_db" FROM PUBLIC;
SQL
echo "init-databases: created databases $AIRFLOW_DB_NAME and $MINDPULSE_DB_NAME, each owned by a role of the same name"
