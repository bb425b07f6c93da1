"""How long to wait before the next attempt: exponential backoff with jitter.

Pure: the random draw is passed in, so a test gives a fixed one. The worker
retries events with it, and the Notifier retries notifications with it.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_s(attempt: int, base_s: float, max_s: float,
              rand: Callable[[float, float], float] = random.uniform) -> float:
    """The wait after the ``attempt``-th failed attempt, in seconds.

    The ceiling doubles from ``base_s`` with each attempt (attempt 1 waits
    ``base_s``) and is capped at ``max_s``. Full jitter: the wait is
    ``rand(low, ceiling)`` with ``low = min(base_s, ceiling)``, uniform by
    default, so workers that failed together do not retry together; never
    below ``base_s``, so a failing call never retries in a hot loop.
    """
    ceiling = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return rand(min(base_s, ceiling), ceiling)
