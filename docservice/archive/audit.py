"""The audit trail: append-only events, each carrying the hash of the one before."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session, SessionTransaction

from docservice.db import CANONICAL_JSON, keep_on_rollback
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
    payload = CANONICAL_JSON.encode(
        [prev_hash, at.isoformat(), action, actor, placement_id, detail, ip, user_agent])
    return hashlib.sha256(payload.encode()).hexdigest()


def _transaction(session: Session) -> SessionTransaction | None:
    """The session's transaction, begun now if it was not (before that there is none to
    compare: a head remembered from an earlier transaction must never match)."""
    session.connection()
    return session.get_transaction()


def _head(session: Session) -> str:
    """The hash of the trail's last entry, holding the trail for this transaction."""
    head = session.info.get("audit_head")
    if head is not None and head[0] is _transaction(session):
        # This transaction appended before and still holds the trail (PostgreSQL: the advisory
        # lock; SQLite: the write lock its first insert took): its last hash is the head.
        return str(head[1])
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends: two writers must never both chain onto the same entry.
        session.execute(text("SELECT pg_advisory_xact_lock(724171)"))
    last = session.scalars(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1).with_for_update()
    ).first()
    return last or GENESIS


def _row(prev_hash: str, at: datetime, action: str, actor: Actor, placement_id: int | None,
         detail: dict[str, Any]) -> dict[str, Any]:
    user_agent = (actor.user_agent or None) and actor.user_agent[:400]
    return {"at": at, "action": action, "actor": actor.name, "placement_id": placement_id,
            "detail": detail, "ip": actor.ip, "user_agent": user_agent, "prev_hash": prev_hash,
            "hash": _digest(prev_hash, at, action, actor.name, placement_id, detail, actor.ip,
                            user_agent)}


def record(session: Session, action: str, actor: Actor, *, placement_id: int | None = None,
           **detail: Any) -> AuditEvent:
    """Append one event to the trail (in the caller's transaction)."""
    transaction = _transaction(session)
    event = AuditEvent(**_row(_head(session), utcnow().replace(microsecond=0), action, actor,
                              placement_id, detail))
    session.add(event)
    session.flush()
    session.info["audit_head"] = (transaction, event.hash)
    return event


def record_refusal(session: Session, action: str, actor: Actor, *,
                   placement_id: int | None = None, **detail: Any) -> None:
    """Append an event that records a refusal (a refused upload, a failed login, a refused
    link, a rate limit hit): it survives the rollback of the refused request.

    Written with the unit of work's other events when that one commits, or in a transaction
    of its own right after it rolls back (`db.keep_on_rollback`): the one way for every
    refusal, so that none depends on the status code of the response that reports it.
    """
    def write(target: Session) -> None:
        record(target, action, actor, placement_id=placement_id, **detail)

    keep_on_rollback(session, write)


def record_many(session: Session, events: list[tuple[str, Actor, int | None, dict[str, Any]]]
                ) -> None:
    """Append (action, actor, placement_id, detail) events in one statement, in this order."""
    if not events:
        return
    transaction = _transaction(session)
    session.flush()  # entries added one by one before these come first
    prev = _head(session)
    at = utcnow().replace(microsecond=0)
    rows = []
    for action, actor, placement_id, detail in events:
        rows.append(_row(prev, at, action, actor, placement_id, detail))
        prev = rows[-1]["hash"]
    for i in range(0, len(rows), 1000):
        session.execute(insert(AuditEvent), rows[i:i + 1000])
    session.info["audit_head"] = (transaction, prev)


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


def entry_json(event: AuditEvent) -> dict[str, Any]:
    """An entry as JSON, with everything needed to recompute its hash without the database."""
    return {
        "id": event.id, "at": event.at.isoformat(), "action": event.action, "actor": event.actor,
        "placement_id": event.placement_id, "detail": event.detail, "ip": event.ip,
        "user_agent": event.user_agent, "prev_hash": event.prev_hash, "hash": event.hash,
    }


#: Below this many entries one process checks the trail; above, one process per core.
PARALLEL_FROM = 100_000


def verify_chain(session: Session, *, progress: Callable[[int], object] | None = None,
                 batch: int = 20_000,
                 workers: int | None = None) -> tuple[int, ChainBreak | None]:
    """Recompute every entry's hash and link, in id order: (entries checked, first break).

    Reads raw rows through the driver in batches (no ORM objects, no type processing). A long
    trail is cut into one id range per core, checked in separate processes (hashing is the
    cost, and Python hashes on one core per process); the ranges' seams are then checked here.
    `progress(n)` is called with the number of entries done, after each batch or range.
    """
    connection = session.connection()
    url = connection.engine.url
    low, high, total = connection.exec_driver_sql(
        "SELECT MIN(id), MAX(id), COUNT(*) FROM audit_events").one()
    if workers is None:
        # A database server formats the rows of each range in a backend of its own: on one
        # machine, every range costs two busy processes (measured on 2 cores: one range is
        # faster on PostgreSQL, two are faster on SQLite).
        cores = os.cpu_count() or 1
        workers = min(cores if url.get_backend_name() == "sqlite" else cores // 2, 8)
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if workers < 2 or total < PARALLEL_FROM or in_memory:
        result = _check_range(connection, progress=progress, batch=batch)
        return result.checked, result.broken
    step = (high - low) // workers + 1
    ranges = [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(workers)]
    target = url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(len(ranges), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_check_slice, target, lo, hi, batch) for lo, hi in ranges]
        results = []
        for future in futures:
            results.append(future.result())
            if progress is not None:
                progress(results[-1].checked)
    checked = 0
    tail: tuple[tuple[int, str] | None, tuple[int, str] | None] = (None, None)
    for result in results:
        if result.first is not None and checked:
            first_id, first_prev = result.first
            before_prev, prev = tail
            if prev is None or first_prev != prev[1]:
                return checked, _link_break(first_id, first_prev, prev, before_prev, checked)
        if result.broken is not None:
            b = result.broken
            return checked + b.checked, ChainBreak(b.kind, b.entry_id, b.detail,
                                                   checked + b.checked)
        checked += result.checked
        if result.last is not None:
            tail = (result.before_last if result.before_last is not None else tail[1],
                    result.last)
    return checked, None


@dataclass(frozen=True)
class _Range:
    """What checking one id range found, and what its seams need."""

    checked: int
    broken: ChainBreak | None
    first: tuple[int, str] | None  # (id, prev_hash) of its first entry
    before_last: tuple[int, str] | None
    last: tuple[int, str] | None  # (id, hash) of its last entry


def _check_slice(url: str, low: int, high: int, batch: int) -> _Range:
    """Check ids low..high in a process of its own (see `verify_chain`)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return _check_range(connection, low=low, high=high, batch=batch)
    finally:
        engine.dispose()


def _check_range(connection: Connection, *, progress: Callable[[int], object] | None = None,
                 batch: int = 20_000, low: int | None = None, high: int | None = None
                 ) -> _Range:
    """Check the entries with ids low..high (all when None); the first one's link is checked
    against GENESIS only when `low` is None (a later range's seam is the caller's)."""
    sqlite = connection.dialect.name == "sqlite"
    # The database hands over text, not objects: the time already in `_digest`'s spelling, the
    # details as stored (JSON columns are written canonically, see `db.CANONICAL_JSON`).
    at, detail = (("at", "detail") if sqlite else (
        "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')", "detail::text"))
    query = (f"SELECT id, hash, prev_hash, {at}, action, actor, placement_id, {detail}, ip, "
             "user_agent FROM audit_events")
    if low is not None:
        query += f" WHERE id BETWEEN {int(low)} AND {int(high or low)}"
    cursor = connection.exec_driver_sql(query + " ORDER BY id")
    checked = 0
    # (id, hash) of the two entries before the current one
    before_prev: tuple[int, str] | None = None
    prev: tuple[int, str] | None = None
    first: tuple[int, str] | None = None
    at_text = _at_text_sqlite if sqlite else _at_text_server
    sha256 = hashlib.sha256

    while rows := cursor.fetchmany(batch):
        for (entry_id, entry_hash, prev_hash, at, action, actor, placement_id, detail, ip,
             user_agent) in rows:
            fields = (prev_hash, at_text(at), action, actor, placement_id, detail, ip,
                      user_agent)
            if sha256(_payload_as_stored(*fields).encode()).hexdigest() != entry_hash and (
                    sha256(_payload_reencoded(*fields).encode()).hexdigest() != entry_hash):
                return _Range(checked, ChainBreak(
                    "changed", entry_id, "its content no longer matches its hash", checked),
                    first, before_prev, prev)
            if first is None:
                first = (entry_id, prev_hash)
                if low is not None:
                    before_prev, prev = prev, (entry_id, entry_hash)
                    checked += 1
                    continue
            expected = prev[1] if prev else GENESIS
            if prev_hash != expected:
                return _Range(checked, _link_break(entry_id, prev_hash, prev, before_prev,
                                                   checked), first, before_prev, prev)
            before_prev, prev = prev, (entry_id, entry_hash)
            checked += 1
        if progress is not None:
            progress(len(rows))
    return _Range(checked, None, first if low is not None else None, before_prev, prev)


_quote = json.encoder.encode_basestring


def _payload_as_stored(prev_hash: str, at: str, action: str, actor: str,
                       placement_id: int | None, detail: str | None, ip: str | None,
                       user_agent: str | None) -> str:
    """`_digest`'s payload with the stored details spliced in as they are: the same text as
    re-encoding them whenever they were stored canonically (every entry since that became
    the rule), without parsing and re-encoding a million small documents."""
    return (f"[{_quote(prev_hash)},{_quote(at)},{_quote(action)},{_quote(actor)},"
            f"{'null' if placement_id is None else int(placement_id)},"
            f"{'null' if detail is None else detail},"
            f"{'null' if ip is None else _quote(ip)},"
            f"{'null' if user_agent is None else _quote(user_agent)}]")


def _payload_reencoded(prev_hash: str, at: str, action: str, actor: str,
                       placement_id: int | None, detail: str | bytes | None, ip: str | None,
                       user_agent: str | None) -> str:
    """`_digest`'s payload, the details parsed and encoded again (entries stored before the
    canonical spelling, or by a driver that spells JSON its own way)."""
    value = json.loads(detail) if detail is not None else None
    return CANONICAL_JSON.encode([prev_hash, at, action, actor, placement_id, value, ip,
                                  user_agent])


def _at_text_sqlite(value: str | datetime) -> str:
    """SQLite keeps naive UTC text ("2024-01-01 00:00:01.000000"); `_digest` wants ISO 8601."""
    if isinstance(value, str) and len(value) >= 19 and value[19:] in ("", ".000000"):
        return f"{value[:10]}T{value[11:19]}+00:00"
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str((value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat())


def _at_text_server(value: str) -> str:
    """PostgreSQL's "2024-01-01T00:00:01.000000" (UTC) as `datetime.isoformat` spells it."""
    return f"{value[:-7] if value.endswith('.000000') else value}+00:00"


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
