"""Console login and CSRF: the admin token once, then a signed session; a token in every form."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import abort, redirect, render_template, request, session, url_for

from handler.web import proxy
from handler.web.console import bp
from handler.web.context import web_context

OPEN_ENDPOINTS = ("console.login", "console.static")


def _admin_token() -> str | None:
    token = web_context().settings.admin_token
    return token.get_secret_value() if token is not None and token.get_secret_value() else None


@bp.before_request
def require_login() -> Any:
    """No admin token configured: no console (404). Not logged in: the login page."""
    if _admin_token() is None:
        abort(404)
    if request.endpoint in OPEN_ENDPOINTS or session.get("admin"):
        return None
    return redirect(url_for("console.login", next=request.full_path.rstrip("?")))


def _safe_next(target: str | None) -> str:
    # Only a path inside the console: never an open redirect to another site.
    if target and target.startswith("/console/") and not urlsplit(target).netloc \
            and not target.startswith("//"):
        return target
    return url_for("console.events")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; a right token starts a session, a wrong one is refused (401)."""
    target = request.values.get("next")
    if request.method == "GET":
        return render_template("console/login.html", next=target, refused=False)
    given = request.form.get("token", "")
    expected = _admin_token() or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return render_template("console/login.html", next=target, refused=True), 401
    session.clear()
    session.permanent = True
    # Behind a Databricks App the proxy names the person; the audit trail keeps it.
    email = proxy.caller_email(request.headers, web_context().settings)
    session.update(admin=True, csrf=secrets.token_urlsafe(32),
                   who=f"console:{email}" if email else "console")
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout() -> Any:
    """End the session (a form with the CSRF token, so no other page can log someone out)."""
    check_csrf()
    session.clear()
    return redirect(url_for("console.login"))


def check_csrf() -> None:
    """Refuse (403) a state-changing post whose form does not carry this session's token."""
    expected = session.get("csrf")
    given = request.form.get("csrf", "")
    if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
        abort(403, "The form's CSRF token is missing or stale: reload the page and try again.")


@bp.app_context_processor
def _csrf_token() -> dict[str, Any]:
    return {"csrf_token": session.get("csrf", "") if request.blueprint == bp.name else ""}
