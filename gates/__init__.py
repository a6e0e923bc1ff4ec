"""Pure decision logic: gates turn inputs and a policy into GateResults; decide() turns those into a Decision.

Nothing in this package imports prefect or mlflow (enforced by import-linter contracts).
"""
