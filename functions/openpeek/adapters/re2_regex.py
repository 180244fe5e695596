"""The `regex` filter operator's engine: RE2 (google-re2), which matches in time linear in the text. Python's `re`
backtracks: `^(a+)+$` against a few dozen characters holds the GIL for seconds, stalling every request of the
process, health checks included. RE2 refuses what it cannot match in linear time (backreferences, lookaround) at
compile time, which the filter parser turns into a 400."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import re2

# A pattern is at most 512 characters (domain/filters.py); its compiled program stays far below this.
_MAX_PROGRAM_BYTES = 8 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a bad pattern is the caller's 400, not a line on the server's stderr
    options.max_mem = _MAX_PROGRAM_BYTES
    return options


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Callable[[str], object]:
    """The pattern's search function; ValueError (with RE2's reason) when RE2 cannot compile it."""
    try:
        return re2.compile(pattern, _options()).search
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None
