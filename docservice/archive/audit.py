"""The audit trail: append-only events, each carrying the hash of the one before."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from docservice.models import AuditEvent, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    name: str
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor("system")


def _digest(prev_hash: str, at: datetime, action: str, actor: str, placement_id: int | None,
            detail: dict[str, Any], ip: str | None, user_agent: str | None) -> str:
    payload = json.dumps(
        [prev_hash, at.isoformat(), action, actor, placement_id, detail, ip, user_agent],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(session: Session, action: str, actor: Actor, *, placement_id: int | None = None,
           **detail: Any) -> AuditEvent:
    """Append one event to the trail (in the caller's transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends: two writers must never both chain onto the same entry.
        session.execute(text("SELECT pg_advisory_xact_lock(724171)"))
    last = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1).with_for_update()
    ).first()
    prev_hash = last.hash if last else GENESIS
    at = utcnow().replace(microsecond=0)
    event = AuditEvent(
        at=at, action=action, actor=actor.name, placement_id=placement_id, detail=detail,
        ip=actor.ip, user_agent=(actor.user_agent or None) and actor.user_agent[:400],
        prev_hash=prev_hash,
    )
    event.hash = _digest(prev_hash, at, action, actor.name, placement_id, detail,
                         event.ip, event.user_agent)
    session.add(event)
    session.flush()
    return event


def first_broken(session: Session) -> AuditEvent | None:
    """The first event whose hash or link to its predecessor does not hold, or None."""
    prev = GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        expected = _digest(event.prev_hash, event.at, event.action, event.actor,
                           event.placement_id, event.detail, event.ip, event.user_agent)
        if event.prev_hash != prev or event.hash != expected:
            return event
        prev = event.hash
    return None
