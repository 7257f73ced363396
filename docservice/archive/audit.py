"""The audit trail: append-only events, each carrying the hash of the one before."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
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


# --- verifying the chain (issue 6) -----------------------------------------------------------

#: The fields of an entry that its hash covers, in the order `_digest` takes them.
CHAINED_FIELDS = ("prev_hash", "at", "action", "actor", "placement_id", "detail", "ip",
                  "user_agent")


@dataclass(frozen=True)
class ChainBreak:
    """The first place where the trail is not what was recorded.

    `kind` is "changed" (an entry's content or hash was altered), "removed" (entries are
    missing before `entry_id`) or "inserted" (`entry_id` was put between two entries that
    chain to each other directly).
    """

    kind: str
    entry_id: int
    detail: str
    checked: int  # entries read before the break was found

    def __str__(self) -> str:
        return f"audit trail entry #{self.entry_id} {self.kind}: {self.detail}"


def entry_digest(entry: dict[str, Any]) -> str:
    """The hash an entry must carry, from its JSON form (as in an audit package)."""
    return _digest(entry["prev_hash"], datetime.fromisoformat(entry["at"]), entry["action"],
                   entry["actor"], entry["placement_id"], entry["detail"], entry["ip"],
                   entry["user_agent"])


def entry_json(event: AuditEvent | Any) -> dict[str, Any]:
    """An entry as JSON, with everything needed to recompute its hash without the database."""
    return {
        "id": event.id, "at": event.at.isoformat(), "action": event.action, "actor": event.actor,
        "placement_id": event.placement_id, "detail": event.detail, "ip": event.ip,
        "user_agent": event.user_agent, "prev_hash": event.prev_hash, "hash": event.hash,
    }


def verify_chain(session: Session, *, progress: Any = None,
                 batch: int = 20_000) -> tuple[int, ChainBreak | None]:
    """Recompute every entry's hash and link, in id order: (entries checked, first break).

    Reads raw rows through the driver in batches (no ORM objects, no type processing).
    `progress(n)` is called after each batch with its size.
    """
    checked, broken = _check_range(session.connection(), progress=progress, batch=batch)
    return checked, broken


def _check_range(connection: Any, *, progress: Any = None,
                 batch: int = 20_000) -> tuple[int, ChainBreak | None]:
    sqlite = connection.dialect.name == "sqlite"
    cursor = connection.exec_driver_sql(
        "SELECT id, hash, prev_hash, at, action, actor, placement_id, detail, ip, user_agent "
        "FROM audit_events ORDER BY id")
    checked = 0
    # (id, hash) of the two entries before the current one
    before_prev: tuple[int, str] | None = None
    prev: tuple[int, str] | None = None
    dumps, loads, sha256 = json.dumps, json.loads, hashlib.sha256

    while rows := cursor.fetchmany(batch):
        for (entry_id, entry_hash, prev_hash, at, action, actor, placement_id, detail, ip,
             user_agent) in rows:
            if isinstance(detail, str | bytes):
                detail = loads(detail)
            payload = dumps([prev_hash, _iso_utc(at, sqlite), action, actor, placement_id,
                             detail, ip, user_agent],
                            sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            if sha256(payload.encode()).hexdigest() != entry_hash:
                return checked, ChainBreak(
                    "changed", entry_id, "its content no longer matches its hash", checked)
            expected = prev[1] if prev else GENESIS
            if prev_hash != expected:
                return checked, _link_break(entry_id, prev_hash, prev, before_prev, checked)
            before_prev, prev = prev, (entry_id, entry_hash)
            checked += 1
        if progress is not None:
            progress(len(rows))
    return checked, None


def _iso_utc(value: Any, sqlite: bool) -> str:
    """`at` as `_digest` formats it (ISO 8601, UTC offset), from whatever the driver returns."""
    if isinstance(value, str):  # SQLite keeps naive UTC text, e.g. "2024-01-01 00:00:01.000000"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif not sqlite:
        value = value.astimezone(UTC)
    return str(value.isoformat())


def _link_break(entry_id: int, prev_hash: str, prev: tuple[int, str] | None,
                before_prev: tuple[int, str] | None, checked: int) -> ChainBreak:
    if prev is None:
        return ChainBreak("removed", entry_id,
                          "the entries before it (the start of the trail) are missing", checked)
    if before_prev is not None and prev_hash == before_prev[1]:
        return ChainBreak("inserted", prev[0],
                          f"entry #{entry_id} chains to #{before_prev[0]}, not to it", checked - 1)
    if entry_id > prev[0] + 1:
        missing = (f"#{prev[0] + 1}" if entry_id == prev[0] + 2
                   else f"#{prev[0] + 1} to #{entry_id - 1}")
        return ChainBreak("removed", entry_id,
                          f"the entry before it is missing ({missing} removed)", checked)
    return ChainBreak("changed", prev[0],
                      f"entry #{entry_id} chains to a different version of it (altered and "
                      "re-hashed)", checked - 1)
