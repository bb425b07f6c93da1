"""A logged model's signature, read from its MLmodel file alone."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import yaml

# libyaml's loader when present: an MLmodel parses in well under a millisecond.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_signature(mlmodel_uri: str) -> tuple[dict[str, str] | None, bool]:
    """(input column → type, whether outputs are declared) from the MLmodel file at ``mlmodel_uri``.

    Only the MLmodel file is downloaded, in one request: ``get_model_info``
    would resolve the logged model again (three more calls) to find it, and
    ``download_artifacts`` first lists the path to learn whether it is a
    folder (one more call) and downloads on a thread pool. An unreadable file
    means "no signature"; network and MLflow errors propagate (the caller
    classifies them).
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.tracking.artifact_utils import _get_root_uri_and_artifact_path

    # Split as download_artifacts splits it (models:/ URIs, local paths, query strings).
    folder_uri, name = _get_root_uri_and_artifact_path(mlmodel_uri)  # type: ignore[no-untyped-call]
    repository = get_artifact_repository(folder_uri)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        # Every artifact repository implements _download_file(remote path, local
        # path): the one-file download its public download_artifacts runs per file.
        repository._download_file(name, path)  # type: ignore[no-untyped-call]
        with open(path, encoding="utf-8") as file:
            text = file.read()
    return parse_signature(text)


def parse_signature(mlmodel: str) -> tuple[dict[str, str] | None, bool]:
    """(input column → type, whether outputs are declared) of an MLmodel file's text.

    The signature's inputs and outputs are stored as JSON lists of column (or
    tensor) specs, as MLflow's ``Schema.to_dict()`` gives them: read directly,
    without building MLflow's model and schema objects (several milliseconds).
    A file that does not parse means "no signature".
    """
    try:
        document: Any = yaml.load(mlmodel, Loader=_LOADER)  # a safe loader (C or Python)
        signature = document.get("signature") or {}
        inputs = json.loads(signature["inputs"]) if signature.get("inputs") else None
        outputs = bool(signature.get("outputs"))
    except (yaml.YAMLError, ValueError, TypeError, AttributeError):
        return None, False
    if not isinstance(inputs, list) or not inputs or not all(isinstance(c, dict) for c in inputs):
        return None, False
    return ({str(c.get("name", i)): str(c.get("type", "?")) for i, c in enumerate(inputs)},
            outputs)
