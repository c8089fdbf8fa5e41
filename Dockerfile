# syntax=docker/dockerfile:1
# The one image every MindPulse service runs (docker-compose.yml): the official Airflow image
# (Python 3.11, Airflow 3.3.2 with its Celery and FAB providers) plus the MindPulse package,
# its DAGs, notebooks and dashboard.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

ENV MINDPULSE_HOME=/opt/mindpulse \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/mindpulse/dags

# The folders the named volumes mount on. Made here, owned by airflow with group 0 (as the
# official image expects, for any UID), so a fresh volume takes that ownership.
USER root
RUN mkdir -p /opt/mindpulse/data /opt/mindpulse/artifacts /opt/mindpulse/reports /opt/mindpulse/workspace \
    && chown -R airflow:0 /opt/mindpulse \
    && chmod -R g+rwX /opt/mindpulse
USER airflow
WORKDIR /opt/mindpulse

# The package and its dependencies, with requirements.lock as constraints: the versions the
# test suite ran with (the papermill and celery providers, evidently, panel, jupyterlab...).
# Airflow itself stays at the image's version. What requirements.exclude names is removed again
# (rfc3987-syntax, papermill's cloud back-ends: each costs Airflow processes ~1 s of CPU at start).
COPY --chown=airflow:0 pyproject.toml requirements.lock requirements.exclude README.md ./
COPY --chown=airflow:0 src/ src/
# The dashboard is a package of the project too (pyproject.toml): installed with it.
COPY --chown=airflow:0 dashboard/ dashboard/
RUN --mount=type=cache,target=/home/airflow/.cache/pip,uid=50000,gid=0 \
    pip install --constraint requirements.lock "apache-airflow==${AIRFLOW_VERSION}" . \
    && pip uninstall --yes --requirement requirements.exclude \
    && python -c "import mindpulse, dashboard, airflow.providers.papermill, airflow.providers.celery.executors.celery_executor"

COPY --chown=airflow:0 dags/ dags/
COPY --chown=airflow:0 notebooks/ notebooks/
COPY --chown=airflow:0 docker/ docker/
