"""The baseline of bench/ingest.py: a bare Flask endpoint that reads the body and answers 204.

Served by gunicorn with deploy/gunicorn.conf.py, like reghook, so the ratio
reghook/bare isolates what reghook adds (verify, parse, store, JSON answer)
from what any Flask app under this gunicorn setup costs.
"""

from flask import Flask, request

app = Flask("bare")


@app.post("/webhooks/mlflow")
def receive() -> tuple[str, int]:
    """Read the raw body (as reghook must) and answer 204 No Content."""
    request.get_data()
    return "", 204


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Process up (the benchmark waits for this before measuring)."""
    return {"status": "ok"}
