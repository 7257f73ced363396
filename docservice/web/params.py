"""Whole numbers from URLs and query strings, bounded to what the database can hold.

An id beyond the database's integer range is not a bigger id, it is no id: the database
driver would raise (SQLite's OverflowError, PostgreSQL's "out of range") and the visitor would
see a 500. The app's `int` URL converter is replaced by `IdConverter`, so a path with such an
id matches no route (404) before any view runs; query-string numbers go through `parse_int`.
"""

from __future__ import annotations

import re

from werkzeug.routing import IntegerConverter, Map

#: The largest id the database holds: PostgreSQL's INTEGER (SQLite's are 64-bit, larger).
MAX_ID = 2**31 - 1

_DIGITS = re.compile(r"-?[0-9]{1,19}")  # ASCII only: int() also reads "１" and " 1 "


def parse_int(raw: str | None, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """`raw` as a whole number in [low, high]; None when absent, not a number or out of range."""
    if raw is None or not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: at most MAX_ID (and, unless told otherwise, not negative)."""

    # ASCII digits, and few of them: int() refuses strings over 4300 digits with a ValueError,
    # which werkzeug would not catch (only a ValidationError means "no match").
    regex = r"[0-9]{1,10}"

    # werkzeug's parameters, by werkzeug's names; only max's default differs.
    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = MAX_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
