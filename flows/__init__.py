"""Composition only: Prefect flows that wire tasks together. No mlflow imports here."""
