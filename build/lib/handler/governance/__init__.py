"""The governance use cases, one feature per module, as plain functions over a :class:`Context`.

- ``runs``: run finished → exactly one version, validated, tagged, aliased
- ``versions``: a version registered by someone else; the converge step
- ``registry_events``: tag and alias events (echoes, approvals, guard)
- ``lifecycle`` / ``guard``: approval, promotion, rollback; the protected alias's guard
- ``databricks_registry`` / ``databricks_jobs``: the Databricks senders
- ``routes``: which of them handles which (source, type)

They know nothing of HTTP, SQL or MLflow: only the ports in ``ports``.
"""
