"""requirements.lock is a valid pip constraints file: `make install` and the image use it."""

from __future__ import annotations

import re
from pathlib import Path

LOCK = Path(__file__).parents[2] / "requirements.lock"


def test_every_line_of_the_lock_is_a_plain_pin_without_extras():
    lines = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    bad = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+", line)]
    assert lines and bad == []  # pip refuses extras in constraints ("psycopg[binary]")
