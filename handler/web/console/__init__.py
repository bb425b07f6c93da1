"""The operator console (docs/console.md): server-rendered pages over the event store.

Read-only pages for events, failures and models, plus two buttons that
change state (replay, rollback), each a form posting a CSRF token. No
JavaScript and no asset from outside the package. Login takes the admin
token once and keeps a signed session cookie (HttpOnly, SameSite=Strict,
Secure over https); without an admin token the console does not exist (404).
Like the rest of the web process it never touches the registry: a rollback
is queued as an event for the worker.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any, cast

from flask import Blueprint, Flask, Request, Response, request
from flask.sansio.blueprints import BlueprintSetupState
from flask.sessions import SecureCookieSessionInterface

from handler.web.context import EXTENSION, WebContext

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")
COOKIE = "reghook_console"
# A working day: someone on call logs in once per shift, not once per page.
LIFETIME = timedelta(hours=12)
# Every console answer: nothing loads from, posts to, or frames into another origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, scoped to the console and Secure whenever served over https."""

    def get_cookie_name(self, app: Flask) -> str:
        """The console's own cookie name."""
        return COOKIE

    def get_cookie_path(self, app: Flask) -> str:
        """Sent only with console requests."""
        return "/console"

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when this request came over https."""
        return request.is_secure

    def should_set_cookie(self, app: Flask, session: Any) -> bool:
        """Only console pages write the cookie (other blueprints never touch the session)."""
        return super().should_set_cookie(app, session) and _is_console(request)


def _is_console(req: Request) -> bool:
    return req.blueprint == bp.name


def session_secret(token: str) -> bytes:
    """The key that signs console sessions, derived from the admin token.

    Rotating the token therefore ends every console session.
    """
    return hmac.new(token.encode(), b"reghook console session", hashlib.sha256).digest()


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    context: WebContext = app.extensions[EXTENSION]
    token = context.settings.admin_token
    if token is not None and token.get_secret_value():
        app.secret_key = session_secret(token.get_secret_value())
    app.session_interface = ConsoleSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=LIFETIME)


@bp.after_request
def _harden(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


from handler.web.console import auth, events, models  # noqa: E402,F401 - routes register on bp
