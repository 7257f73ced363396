"""People who log in: coordinators, auditors, admins."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from docservice.models.base import Base, UTCDateTime, utcnow


class Role(str, enum.Enum):
    """Who a user of the web app is."""

    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class User(Base):
    """A person who logs in: coordinator, auditor or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every login session carries the number it had at login; raising it (logout, password
    # change, deactivation) ends all of them, on every device.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def end_sessions(self) -> None:
        """End every login session of this user (their cookies no longer open anything)."""
        self.session_version = (self.session_version or 0) + 1
