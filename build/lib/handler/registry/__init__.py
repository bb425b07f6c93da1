"""The MLflow registry adapter: the only module that imports mlflow.

Turns MLflow's errors into reghook's (transient vs. permanent), never builds
a filter string from user text (quotes cannot be escaped in MLflow filters:
only hex run ids are searched, and every returned name is compared
exactly), and caches facts that cannot change (a logged model's signature,
an experiment's name, a version's run facts).
"""

from __future__ import annotations

import os

# MLflow's REST client retries connection errors for minutes by default; the
# worker's own backoff is the retry policy, so keep MLflow's short. Set before
# mlflow is first imported (by the modules below).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

from handler.registry.client import MlflowRegistry
from handler.registry.translate import RegistryNotFound

__all__ = ["MlflowRegistry", "RegistryNotFound"]
