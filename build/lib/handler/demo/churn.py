"""Synthetic, imbalanced churn runs with real scikit-learn models, logged to a real server (demo and tests).

A balanced logistic regression finds most churners (high recall); an
unweighted one on the same 9:1 data misses most of them (low recall): the
passing and failing runs differ the way they do in real life.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FEATURES = ["tenure_months", "orders_last_30d", "avg_basket", "support_tickets", "discount_rate"]


def churn_frame(seed: int = 7, rows: int = 600, features: list[str] | None = None) -> pd.DataFrame:
    """A synthetic customer table with about 10% churners."""
    rng = np.random.default_rng(seed)
    features = features or FEATURES
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in features})
    signal = (-1.2 * frame[features[0]] + 0.9 * frame[features[3 % len(features)]]
              + 1.1 * rng.normal(size=rows))
    frame["churned"] = (signal > np.quantile(signal, 0.9)).astype(int)
    return frame


@dataclass(frozen=True)
class LoggedRun:
    """A logged training run and its quality."""

    run_id: str
    experiment_id: str
    recall: float
    precision: float


def train_churn_model(frame: Any, *, good: bool, seed: int) -> tuple[Any, Any, Any, float, float]:
    """Fit a logistic regression on the churn frame: (model, x_train, predictions, recall, precision).

    ``good`` balances the classes; unweighted training on this imbalance has poor recall.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import precision_score, recall_score
    from sklearn.model_selection import train_test_split

    x, y = frame.drop(columns=["churned"]), frame["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=seed,
                                                        stratify=y)
    model = LogisticRegression(class_weight="balanced" if good else None, max_iter=500)
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    recall = float(recall_score(y_test, predicted, zero_division=0))
    precision = float(precision_score(y_test, predicted, zero_division=0))
    return model, x_train, model.predict(x_train), recall, precision


def log_churn_run(
    tracking_uri: str,
    experiment: str,
    *,
    good: bool = True,
    artifact_path: str = "churn_pipeline_model",
    features: list[str] | None = None,
    dataset_source: str = "s3://quickbite/churn/train.parquet",
    tags: dict[str, str] | None = None,
    status: str = "FINISHED",
    seed: int = 7,
    log_model: bool = True,
    git_commit: str | None = "3f2c1ab",
    with_signature: bool = True,
) -> LoggedRun:
    """Train and log one churn model run; ``good`` decides balanced vs. unweighted training.

    ``git_commit=None`` logs a run without that tag (a required-tags gate fails on it);
    ``with_signature=False`` logs the model without a signature (Unity Catalog refuses it).
    """
    import mlflow
    import sklearn
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    frame = churn_frame(seed=seed, features=features)
    model, x_train, predicted, recall, precision = train_churn_model(frame, good=good, seed=seed)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    # The fluent API needs a global tracking URI, and MLflow also exports it to
    # MLFLOW_TRACKING_URI: both are put back afterwards, or every MlflowClient()
    # made later in the session (reghook's own) would point at this server,
    # which may be another test's, stopped since.
    exported = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run(experiment_id=experiment_id) as run:
                dataset = from_pandas(frame, source=dataset_source, name="churn_train",
                                      targets="churned")
                mlflow.log_input(dataset, context="training")
                mlflow.log_metrics({"recall": recall, "precision": precision})
                commit = {"git_commit": git_commit} if git_commit is not None else {}
                mlflow.set_tags({**commit, **(tags or {})})
                if log_model:
                    # Explicit requirements: inferring them runs a subprocess that
                    # imports the model (~7 s per run), and the tests never serve it.
                    signature = infer_signature(x_train, predicted) if with_signature else None
                    mlflow.sklearn.log_model(model, name=artifact_path, signature=signature,
                                             pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    finally:
        # None clears the global URI (and the exported variable).
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        if exported is not None:
            os.environ["MLFLOW_TRACKING_URI"] = exported
    if status != "FINISHED":
        client.set_terminated(run.info.run_id, status=status)
    return LoggedRun(run.info.run_id, experiment_id, recall, precision)
