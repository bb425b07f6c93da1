"""``webhooks install mlflow`` refused by a stock MLflow server: one line naming its settings.

The stand-in answers as MLflow 3's server does when its URL validation
(``MLFLOW_WEBHOOK_ALLOWED_SCHEMES``, ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS``)
refuses the URL; the real ``MlflowClient`` talks to it (docs/cli.md).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from handler.cli import main

REFUSAL = {"error_code": "INVALID_PARAMETER_VALUE",
           "message": "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."}


class StockMlflow(BaseHTTPRequestHandler):
    """Refuses every webhook as a stock server refuses an http URL."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(REFUSAL).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def stock_mlflow() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StockMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_refusal_names_the_mlflow_server_settings_it_needs(stock_mlflow):
    result = CliRunner().invoke(main, ["webhooks", "install", "mlflow", "--url",
                                       "http://127.0.0.1:8080"],
                                env={"MLFLOW_TRACKING_URI": stock_mlflow,
                                     "REGHOOK_MLFLOW_SECRETS": "s3cret"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reghook: "), result.stderr
    for needed in ("Allowed schemes are: https", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https",
                   "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true"):
        assert needed in lines[0]
    assert "s3cret" not in result.output


def test_without_a_tracking_server_it_says_to_set_one(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(main, ["webhooks", "install", "mlflow", "--url", "https://r.example"],
                                env={"REGHOOK_MLFLOW_SECRETS": "s3cret"})
    assert result.exit_code == 2, result.output
    assert "MLFLOW_TRACKING_URI" in result.stderr and "Traceback" not in result.output
