"""Models of the coordinator's desk (issue 5): reminders, API tokens, verification cache."""

from __future__ import annotations

from docservice.models import Base  # noqa: F401  (tables below register on Base.metadata)
