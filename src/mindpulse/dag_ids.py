"""The two DAG ids, named once: the DAG files, the pipeline steps, the CLI and the dashboard import them.

Nothing is imported here, so a DAG file can read them at parse time for free.
"""

RETRAIN_DAG_ID = "ml_retrain_pipeline"
REPORTING_DAG_ID = "evidently_reporting_pipeline"
DAG_IDS = (RETRAIN_DAG_ID, REPORTING_DAG_ID)
