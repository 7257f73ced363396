"""Background jobs: each takes ids, is idempotent and opens its own unit of work.

Jobs are queued only after the commit they depend on (`Runtime.enqueue` from an
after-commit hook). The embedded default runs them in a thread of the service
process; tests run them inline, right after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Job name -> function(runtime, *ids). Modules that own a job register it here.
REGISTRY: dict[str, Callable[..., Any]] = {}


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `function` as the job called `name`."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = function
        return function

    return register


# Modules that own jobs register them when imported.
from docservice.services import archive as _archive  # noqa: E402, F401  (archive_envelope)
