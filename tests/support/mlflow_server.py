"""The real ``mlflow server`` of the test session: the same one ``reghook demo`` starts."""

from handler.demo.server import (
    WEBHOOK_ENCRYPTION_KEY,
    MlflowServer,
    free_port,
    mlflow_server_env,
)

__all__ = ["WEBHOOK_ENCRYPTION_KEY", "MlflowServer", "free_port", "mlflow_server_env"]
