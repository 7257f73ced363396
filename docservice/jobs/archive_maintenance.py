"""Keeping the archive: re-verify it, sweep what crashes left, purge, find what needs renewal.

Each step that changes the index opens its own unit of work, one per entry, so a long run
keeps what it has done when it stops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from docservice.archive import audit, records
from docservice.archive.records import object_keys
from docservice.archive.store import RetentionActive
from docservice.db import unit_of_work
from docservice.models import ArchiveEntry, ArchiveTerm
from docservice.services.archive_search import entries_query
from docservice.services.archive_status import EntryCheck, check_entry
from docservice.signing import ltv
from docservice.signing.verify.verdict import timestamp_weakness

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime


@dataclass
class VerifySummary:
    """`docservice archive verify`: how many documents were checked and which failed."""

    checked: int = 0
    failed: list[EntryCheck] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def verify_archive(rt: Runtime, shas: Sequence[str] = (), *, signatures: bool = True,
                   actor: audit.Actor = audit.SYSTEM,
                   progress: Callable[[EntryCheck], None] | None = None,
                   now: datetime | None = None) -> VerifySummary:
    """Re-verify archived documents (all, or `shas`), recording each verdict in the trail."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    summary = VerifySummary()
    with rt.db.session() as session:
        ids = [e.id for e in session.scalars(entries_query(shas))]
        if shas:
            found = {e.sha256 for e in session.scalars(entries_query(shas))}
            for sha in set(shas) - found:
                summary.failed.append(EntryCheck(sha, False, ("not in the archive index",)))
    sources = rt.ltv_sources(now=now) if signatures else None
    for entry_id in ids:
        with unit_of_work(rt.db) as session:
            entry = session.get(ArchiveEntry, entry_id)
            assert entry is not None
            check = check_entry(entry, store=rt.archive_store, sources=sources, now=now,
                                current_crls=sources.crls if sources else None)
            entry.last_verified_at = now
            entry.last_verified_ok = check.ok
            audit.record(session, "archive.verified", actor, placement_id=entry.placement_id,
                         sha256=entry.sha256, ok=check.ok, signatures=signatures,
                         problems=list(check.problems)[:20])
        summary.checked += 1
        summary.repaired += list(check.repaired)
        if not check.ok:
            summary.failed.append(check)
        if progress:
            progress(check)
    return summary


@dataclass
class SweepResult:
    """Objects no index row points at (removed unless dry run) and rows without objects."""

    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # locked orphans, or younger than the grace
    leftovers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # rows whose objects are gone: damage


def sweep(rt: Runtime, *, dry_run: bool = False, grace: timedelta = timedelta(hours=1),
          now: datetime | None = None) -> SweepResult:
    """Find what a crash left: orphans (objects without a row) and partial writes.

    Objects younger than `grace` are left alone: an archiving job may be about to commit
    the row that points at them.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    store = rt.archive_store
    result = SweepResult()
    with rt.db.session() as session:
        known = set(session.scalars(select(ArchiveEntry.sha256)
                                    .where(ArchiveEntry.purged_at.is_(None))))
    seen: set[str] = set()
    for key, modified in sorted(store.objects()):
        if records.checkpoint_of_key(key) is not None:
            continue  # trail checkpoints belong to no document; they are kept for good
        sha = records.sha_of_key(key)
        if sha is not None and sha in known:
            seen.add(key)
            continue
        result.orphans.append(key)
        if dry_run or now - modified < grace:
            result.kept.append(key)
            continue
        try:
            store.delete(key, today=now.date())
            result.removed.append(key)
        except RetentionActive:
            result.kept.append(key)
    for name, modified in store.leftovers():
        result.leftovers.append(name)
        if not dry_run and now - modified >= grace:
            store.remove_leftover(name)
    # The blob store's too: a process killed while it stored a signed revision leaves one.
    for path, modified in rt.blobs.leftovers():
        result.leftovers.append(f"blobs/{path.parent.name}/{path.name}")
        if not dry_run and now - modified >= grace:
            path.unlink(missing_ok=True)
    for sha in sorted(known):
        for key in object_keys(sha):
            if key not in seen:
                result.missing.append(key)
    return result


@dataclass
class PurgeResult:
    purged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def purge(rt: Runtime, *, dry_run: bool = False, today: date | None = None,
          actor: audit.Actor = audit.SYSTEM) -> PurgeResult:
    """Remove archived documents whose retention has ended, each removal in the trail."""
    today = today or datetime.now(UTC).date()
    store = rt.archive_store
    result = PurgeResult()
    with rt.db.session() as session:
        due = [(e.id, e.sha256) for e in session.scalars(
            select(ArchiveEntry).where(ArchiveEntry.purged_at.is_(None),
                                       ArchiveEntry.retention_until < today)
            .order_by(ArchiveEntry.id))]
    for entry_id, sha in due:
        if dry_run:
            result.purged.append(sha)
            continue
        try:
            for key in records.all_object_keys(sha):
                if store.exists(key):
                    store.delete(key, today=today)
        except RetentionActive as e:
            result.refused.append(f"{sha}: {e}")
            continue
        with unit_of_work(rt.db) as session:
            entry = session.get(ArchiveEntry, entry_id)
            assert entry is not None
            entry.purged_at = datetime.now(UTC)
            session.execute(delete(ArchiveTerm).where(ArchiveTerm.entry_id == entry_id))
            audit.record(session, "archive.purged", actor, placement_id=entry.placement_id,
                         sha256=sha, document=entry.reference,
                         retention_until=entry.retention_until.isoformat())
        result.purged.append(sha)
    return result


def renewal_due(rt: Runtime, *, within: timedelta = timedelta(days=365),
                now: datetime | None = None, check_algorithms: bool = True) -> list[tuple[int, str]]:
    """Current entries whose last timestamp's certificate expires within `within`, or weakens."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    due: dict[int, str] = {}
    with rt.db.session() as session:
        current = list(session.scalars(entries_query(include_superseded=False)))
        for entry in current:
            if entry.last_timestamp_expires_at <= now + within:
                due[entry.id] = (f"timestamp certificate expires "
                                 f"{entry.last_timestamp_expires_at:%Y-%m-%d}")
        if check_algorithms:
            store = rt.archive_store
            for entry in current:
                if entry.id in due:
                    continue
                last = ltv.document_timestamps(store.get(records.pdf_key(entry.sha256)))[-1]
                weak = timestamp_weakness(last)
                if weak:
                    due[entry.id] = weak
    return sorted(due.items())
