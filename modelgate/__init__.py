"""modelgate: promote or reject MLflow model versions through evidence gates, run as Prefect flows."""

__version__ = "0.1.0"
