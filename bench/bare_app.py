"""bench/ingest.py's baseline: a bare Flask endpoint under the same gunicorn setup as reghook.

It reads the body (as reghook must) and answers 204, so the ratio reghook/bare
isolates what reghook adds (verify, parse, store, answer) from what any Flask
app costs.
"""

from flask import Flask, request

app = Flask("bare")


@app.post("/webhooks/mlflow")
def receive() -> tuple[str, int]:
    """Read the raw body and answer 204 No Content."""
    request.get_data()
    return "", 204


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Process up (the benchmark waits for this before measuring)."""
    return {"status": "ok"}
