"""Decode a raw JSON body safely: UTF-8, bounded nesting, no lone surrogates (docs/routes.md).

Pure: bytes in, a value out, or :class:`~handler.errors.MalformedJson`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from handler.errors import MalformedJson

# Deeper JSON than this is refused before any model sees it: no sender of
# reghook nests more than a few levels, and Python's parser recurses.
MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body or raise :class:`MalformedJson`.

    Also refused as malformed (docs/routes.md): nesting deeper than
    :data:`MAX_DEPTH`, and strings holding a lone UTF-16 surrogate (``"\\ud800"``),
    which no UTF-8 store, log or registry can take (I-JSON, RFC 7493).
    """
    try:
        text = body.decode("utf-8")
        # Depth is at most the number of opening brackets: most bodies skip the walk.
        deep = body.count(b"[") + body.count(b"{") > MAX_DEPTH
        value = json.loads(text)
    except UnicodeDecodeError:
        raise MalformedJson("The body is not valid UTF-8.") from None
    except RecursionError:
        raise MalformedJson(f"The body nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise MalformedJson(f"The body is not valid JSON: {exc}.") from None
    # A lone surrogate can only come from a \uD800-\uDFFF escape: valid UTF-8 has none.
    if deep or _SURROGATE_ESCAPE.search(body):
        _check_values(value)
    return value


def _check_values(value: Any) -> None:
    """Walk ``value`` without recursion; refuse deep nesting and lone surrogates."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise MalformedJson("The body holds a lone UTF-16 surrogate (\\ud800-\\udfff).")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise MalformedJson(f"The body nests deeper than {MAX_DEPTH} levels.")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
