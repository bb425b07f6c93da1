"""A logged model's signature, read from its MLmodel file alone."""

from __future__ import annotations

import tempfile

from mlflow.exceptions import MlflowException


def read_signature(mlmodel_uri: str) -> tuple[dict[str, str] | None, bool]:
    """(input column → type, whether outputs are declared) from the MLmodel file at ``mlmodel_uri``.

    Only the MLmodel file is downloaded: ``get_model_info`` would resolve the
    logged model again (three more calls) to find it. An unreadable file means
    "no signature"; network and MLflow errors propagate (the caller classifies them).
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = download_artifacts(artifact_uri=mlmodel_uri, dst_path=folder)
            signature = Model.load(path).signature
        except (OSError, MlflowException):
            raise
        except Exception:  # noqa: BLE001 - an unreadable MLmodel means "no signature"
            return None, False
    if signature is None or signature.inputs is None:
        return None, False
    inputs = {str(c.get("name", i)): str(c.get("type", "?"))
              for i, c in enumerate(signature.inputs.to_dict())}
    return inputs, signature.outputs is not None
