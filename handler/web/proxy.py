"""What a trusted reverse proxy changes: where credentials and the caller's name are read.

Behind a Databricks App (``REGHOOK_TRUSTED_PROXY=databricks-apps``) the
proxy owns ``Authorization``: it demands a Databricks OAuth token there and
does not hand the header on. So the admin token travels in
``X-Reghook-Admin-Token``, a sender's own credentials (the jobs route's HTTP
Basic, the Databricks registry's fixed value) in ``X-Reghook-Authorization``,
and the proxy names the signed-in caller in ``X-Forwarded-Email``. Anywhere
else any caller could set those headers, so they are ignored
(docs/configuration.md, docs/admin-api.md).
"""

from __future__ import annotations

from werkzeug.datastructures import Headers

from handler.settings import Settings

DATABRICKS_APPS = "databricks-apps"
ADMIN_TOKEN_HEADER = "X-Reghook-Admin-Token"
AUTHORIZATION_HEADER = "X-Reghook-Authorization"
EMAIL_HEADER = "X-Forwarded-Email"
# Credentials a caller or the proxy may send beside the usual ones: dropped
# here too, though the intake stores only an allow-list (handler.intake).
CREDENTIAL_HEADERS = (AUTHORIZATION_HEADER, ADMIN_TOKEN_HEADER, "X-Forwarded-Access-Token")
# An email is shown in audit entries: bound what a header can put there.
MAX_EMAIL = 254


def behind_databricks_apps(settings: Settings) -> bool:
    """Whether reghook is told it is served behind a Databricks App's proxy."""
    return settings.trusted_proxy == DATABRICKS_APPS


def intake_headers(headers: Headers, settings: Settings) -> Headers:
    """The headers an intake route verifies: the sender's own credentials in ``Authorization``.

    Behind the Databricks Apps proxy, whatever ``Authorization`` holds is the
    proxy's business, and the sender's value comes from
    ``X-Reghook-Authorization``. The extra credential headers are dropped
    either way, so they are never stored with the event.
    """
    behind = behind_databricks_apps(settings)
    if not behind and not any(name in headers for name in CREDENTIAL_HEADERS):
        return headers  # the common case: no copy
    seen = Headers(headers)
    if behind:
        given = seen.get(AUTHORIZATION_HEADER)
        seen.remove("Authorization")
        if given is not None:
            seen.set("Authorization", given)
    for name in CREDENTIAL_HEADERS:
        seen.remove(name)
    return seen


def admin_token(headers: Headers, settings: Settings) -> str | None:
    """The admin token the caller presented, read where this deployment expects it."""
    if behind_databricks_apps(settings):
        given = headers.get(ADMIN_TOKEN_HEADER)
        return given.strip() if given is not None else None
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def admin_token_refusal(settings: Settings) -> str:
    """The 401's sentence: what this deployment wants (docs/admin-api.md)."""
    if behind_databricks_apps(settings):
        return f"A valid admin token is required in the {ADMIN_TOKEN_HEADER} header."
    return "A valid bearer token is required."


def caller_email(headers: Headers, settings: Settings) -> str | None:
    """The signed-in caller's email as the Databricks Apps proxy names it; None elsewhere."""
    if not behind_databricks_apps(settings):
        return None
    email = (headers.get(EMAIL_HEADER) or "").strip()
    return email[:MAX_EMAIL] or None
