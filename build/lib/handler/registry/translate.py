"""MLflow's entities and errors in reghook's terms: run and version values, transient vs permanent."""

from __future__ import annotations

import re
from typing import Any

from mlflow.exceptions import MlflowException

from handler.errors import PermanentError, TransientError
from handler.gates import DatasetFact
from handler.governance.ports import RunInfo, VersionInfo

RUN_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# Two writers setting the same alias or tag at once: the tracking server's
# read-then-insert loses the race and answers 400 with its database's
# unique-constraint error. The write is valid; retried, it finds the value set.
WRITE_CONFLICT = re.compile(r"IntegrityError|UNIQUE constraint failed|duplicate key value")


class RegistryNotFound(PermanentError):
    """The registry has no such model, version, alias or run."""


def version_info(mv: Any) -> VersionInfo:
    """A registry ``ModelVersion`` as a :class:`VersionInfo`."""
    return VersionInfo(name=mv.name, version=str(mv.version), run_id=mv.run_id or None,
                       source=mv.source or "", status=str(mv.status or "READY"),
                       tags=dict(mv.tags or {}), aliases=tuple(mv.aliases or ()),
                       status_message=getattr(mv, "status_message", None) or None)


def run_info(run: Any) -> RunInfo:
    """A run as governance sees it; datasets other than training ones are left out."""
    datasets = tuple(
        DatasetFact(name=d.dataset.name, source=d.dataset.source, schema=d.dataset.schema or "")
        for d in (run.inputs.dataset_inputs if run.inputs else [])
        if not any(t.key == "mlflow.data.context" and t.value not in ("training", "train")
                   for t in (d.tags or []))
    )
    outputs = run.outputs.model_outputs if run.outputs else []
    return RunInfo(
        run_id=run.info.run_id, status=run.info.status,
        experiment_id=str(run.info.experiment_id), artifact_uri=run.info.artifact_uri or "",
        metrics=dict(run.data.metrics), tags=dict(run.data.tags), datasets=datasets,
        model_ids=tuple(o.model_id for o in outputs),
    )


def classify(exc: MlflowException, what: str) -> Exception:
    """The reghook error for an MLflow error: not found, transient (retry) or permanent."""
    code = int(exc.get_http_status_code())  # type: ignore[no-untyped-call]
    # An unset alias comes back as INVALID_PARAMETER_VALUE "... alias X not found".
    if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message.lower()
    ):
        return RegistryNotFound(f"{what}: not found in the registry")
    if code >= 500 or code == 429:
        return TransientError(f"{what}: MLflow unavailable ({exc.error_code})")
    return PermanentError(f"{what}: MLflow refused ({exc.error_code}: {exc.message[:300]})")


