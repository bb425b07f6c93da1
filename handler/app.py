"""Compatibility: the web app moved to :mod:`handler.web`; import it from there."""

from __future__ import annotations

from handler.web import create_app, read_body

__all__ = ["create_app", "read_body"]
