"""Where the trust for a verification comes from (the runtime builds it: see Runtime.trust)."""

from __future__ import annotations

from typing import Any

from docservice.signing.verify.engine import Trust


def trust_from_runtime(runtime: Any) -> tuple[Trust, list[str]]:
    """The running service's trust, and notes on what could not be loaded into it."""
    trust = runtime.trust
    return trust, list(runtime.trust_notes)
