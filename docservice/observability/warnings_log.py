"""Imported first by the `docservice` command: Python warnings become log records.

pyhanko warns as it loads (cryptography's DSA deprecation); whoever runs a command should see
its output, not that. Warnings raised before the command has set up logging are kept here,
and `release()` hands them to the logging it set up.
"""

from __future__ import annotations

import logging
import logging.handlers

_kept = logging.handlers.BufferingHandler(capacity=100)  # when full, it starts over


def release() -> None:
    """Hand the warnings kept so far to the logging now configured; keep no more."""
    warnings_logger = logging.getLogger("py.warnings")
    if _kept not in warnings_logger.handlers:
        return
    warnings_logger.removeHandler(_kept)
    for record in _kept.buffer:
        warnings_logger.handle(record)
    _kept.buffer.clear()


logging.captureWarnings(True)
logging.getLogger("py.warnings").addHandler(_kept)
