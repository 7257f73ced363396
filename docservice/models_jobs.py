"""Tables of the job queue (issue 7)."""

from __future__ import annotations
