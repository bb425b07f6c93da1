"""Synthetic churn runs with real scikit-learn models: the same ones ``reghook demo`` logs."""

from handler.demo.churn import FEATURES, LoggedRun, churn_frame, log_churn_run

__all__ = ["FEATURES", "LoggedRun", "churn_frame", "log_churn_run"]
