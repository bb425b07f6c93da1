"""gunicorn settings for reghook's web processes; every value can be overridden by env."""

import os
import tempfile

bind = os.environ.get("REGHOOK_BIND", f"0.0.0.0:{os.environ.get('PORT', '8080')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, not one request per process: a sender trickling a body holds one
# thread until handler/web/deadline.py cuts it off (10 s), not a whole worker.
# Put a buffering proxy in front all the same (deploy/README.md).
worker_class = "gthread"
threads = int(os.environ.get("REGHOOK_WEB_THREADS", "8"))
# Webhook senders time out after 10-30 s; a request should take milliseconds.
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
# Each worker builds its own engine after the fork (no preload): database
# connections must never be shared across processes.
preload_app = False
# gunicorn 26 opens a control socket at a fixed path in $HOME; several
# instances on one host (tests, benchmarks) would fight over it.
control_socket_disable = True

# /metrics aggregates all workers through prometheus-client's multiprocess mode.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="reghook-prom-")


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """Tell prometheus-client a worker is gone so its live gauges are dropped."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
