"""Models of the archive (issue 6): archived documents and their manifests."""

from __future__ import annotations

from docservice.models import Base  # noqa: F401  (tables below register on Base.metadata)
