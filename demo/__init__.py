"""The demo: UCI Adult data and small torch classifiers logged as MLflow pyfunc models."""
