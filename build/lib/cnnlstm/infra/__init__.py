"""Content-addressed artifacts and MLflow tracking, used by the flows and their stage tasks."""
