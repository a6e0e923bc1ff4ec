"""I/O layer: Prefect tasks and every read or write of the MLflow registry, tracking store and data files."""
