"""The same pipeline for the orchestrators teams already run: Airflow 3 today (``nbprod export airflow``)."""
