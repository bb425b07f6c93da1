"""WSGI entry point for gunicorn's ``web`` processes: the app only, no worker.

``gunicorn -c deploy/gunicorn.conf.py deploy.wsgi:app`` (see the Procfile).
Importing this never imports mlflow.
"""

from handler.bootstrap import build_web
from handler.settings import Settings

app = build_web(Settings())
