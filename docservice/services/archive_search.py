"""Finding and reading the archive: search, an entry and its trail, its objects, exports.

Every function takes the caller's session and the archive store as a keyword; none commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from docservice.archive import audit, records
from docservice.archive.package import PackagedDocument, build_package
from docservice.archive.store import ArchiveStore
from docservice.db import keep_on_rollback
from docservice.domain import BRUSSELS, sha256_hex
from docservice.errors import N_, DocserviceError, InvalidInput, NotFound, Reason
from docservice.models import ArchiveEntry, ArchiveTerm, AuditEvent
from docservice.services.text import words
from docservice.signing.ltv import LtvSources

#: The objects of an entry, in `records.all_object_keys` order.
OBJECTS = ("pdf", "manifest", "report", "html", "etsi", "report_pdf")


class ArchiveDamaged(DocserviceError):
    """An archived object is missing or is not what was archived.

    When it is about an indexed entry, says which (`entry_id`, `sha256`), which object
    (`key`) and what was found (`found_sha256`, None when the object is missing).
    """

    def __init__(self, message: str, *, entry_id: int | None = None,
                 placement_id: int | None = None, sha256: str | None = None,
                 key: str | None = None, expected_sha256: str | None = None,
                 found_sha256: str | None = None) -> None:
        super().__init__(message)
        self.entry_id = entry_id
        self.placement_id = placement_id
        self.sha256 = sha256
        self.key = key
        self.expected_sha256 = expected_sha256
        self.found_sha256 = found_sha256


def entry_terms(entry: ArchiveEntry) -> set[tuple[str, str]]:
    """The (field, word) pairs an entry is found by: student name and number, company."""
    student = set(words(f"{entry.student_name} {entry.student_number}"))
    company = set(words(entry.company_name))
    company |= set(words(entry.company_number))
    digits = "".join(c for c in entry.company_number if c.isdigit())
    if digits:
        company.add(digits)
    return {("student", t) for t in student} | {("company", t) for t in company}


@dataclass(frozen=True)
class SearchCriteria:
    """What an auditor searches by; every given criterion must match."""

    student: str = ""  # name (any words, prefixes) or student number
    company: str = ""  # name or enterprise number
    year: str = ""
    kind: str = ""
    signed_from: date | None = None  # the last signature on or after this day (Brussels)
    signed_to: date | None = None  # ... and on or before this day
    sha256: str = ""  # the archived PDF's or the signed original's, or a prefix (8+ hex)

    @property
    def empty(self) -> bool:
        return not (self.student.strip() or self.company.strip() or self.year or self.kind
                    or self.signed_from or self.signed_to or self.sha256.strip())


@dataclass(frozen=True)
class SearchResult:
    entries: list[ArchiveEntry]
    more: bool  # more entries match than were returned


def search(session: Session, criteria: SearchCriteria, *, limit: int = 50,
           offset: int = 0) -> SearchResult:
    """Archived documents matching every criterion, newest signing first."""
    query = select(ArchiveEntry).where(ArchiveEntry.purged_at.is_(None))
    for field_name, text in (("student", criteria.student), ("company", criteria.company)):
        terms = words(text)
        if any(len(w) > 1 for w in terms):
            # A lone letter ("d" of D'Hondt) matches a large share of all words: skip it.
            terms = [w for w in terms if len(w) > 1]
        for word in terms:
            matching = select(ArchiveTerm.entry_id).where(
                ArchiveTerm.field == field_name, ArchiveTerm.term >= word,
                ArchiveTerm.term < word + "\uffff")
            query = query.where(ArchiveEntry.id.in_(matching))
    if criteria.year:
        query = query.where(ArchiveEntry.academic_year == criteria.year)
    if criteria.kind:
        query = query.where(ArchiveEntry.document_kind == criteria.kind)
    # Signed in the range: the day the last party signed (when the agreement took effect).
    # One indexed range, read newest first: no sorting of every match.
    if criteria.signed_from:
        start = datetime.combine(criteria.signed_from, time(0), tzinfo=BRUSSELS)
        query = query.where(ArchiveEntry.signed_last_at >= start)
    if criteria.signed_to:
        end = datetime.combine(criteria.signed_to + timedelta(days=1), time(0), tzinfo=BRUSSELS)
        query = query.where(ArchiveEntry.signed_last_at < end)
    sha = criteria.sha256.strip().lower()
    if sha:
        if not all(c in "0123456789abcdef" for c in sha) or not 8 <= len(sha) <= 64:
            raise InvalidInput("sha256", Reason(
                N_("geef minstens 8 hexadecimale cijfers van een SHA-256")))
        if len(sha) == 64:
            query = query.where((ArchiveEntry.sha256 == sha) | (ArchiveEntry.source_sha256 == sha))
        else:
            upper = sha + "g"
            query = query.where(((ArchiveEntry.sha256 >= sha) & (ArchiveEntry.sha256 < upper))
                                | ((ArchiveEntry.source_sha256 >= sha)
                                   & (ArchiveEntry.source_sha256 < upper)))
    query = query.order_by(ArchiveEntry.signed_last_at.desc(), ArchiveEntry.id.desc())
    rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
    return SearchResult(rows[:limit], len(rows) > limit)


def entries_query(shas: Sequence[str] = (), *,
                  include_superseded: bool = True) -> Select[ArchiveEntry]:
    """Archived (not purged) entries, all or those with the given SHA-256 (or prefixes)."""
    query = select(ArchiveEntry).where(ArchiveEntry.purged_at.is_(None)).order_by(ArchiveEntry.id)
    if not include_superseded:
        query = query.where(ArchiveEntry.superseded_at.is_(None))
    if shas:
        query = query.where(ArchiveEntry.sha256.in_(list(shas)))
    return query


def entry_by_sha(session: Session, sha256: str) -> ArchiveEntry:
    """The archived (not purged) entry with this SHA-256."""
    entry = session.scalars(select(ArchiveEntry).where(
        ArchiveEntry.sha256 == sha256.lower(), ArchiveEntry.purged_at.is_(None))).first()
    if entry is None:
        raise NotFound(f"archived document {sha256[:64]}")
    return entry


def trail_of(session: Session, placement_id: int) -> list[AuditEvent]:
    """Every trail entry about a placement, oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.placement_id == placement_id)
                                .order_by(AuditEvent.id)))


def read_object(entry: ArchiveEntry, which: str, *, store: ArchiveStore) -> bytes:
    """One of an entry's objects (one of `OBJECTS`), checked if it is the PDF, the manifest
    or the JSON report."""
    keys = dict(zip(OBJECTS, records.all_object_keys(entry.sha256), strict=True))
    expected = {"pdf": entry.sha256, "manifest": entry.manifest_sha256,
                "report": entry.report_sha256}.get(which)

    def damaged(message: str, found: str | None = None) -> ArchiveDamaged:
        return ArchiveDamaged(message, entry_id=entry.id, placement_id=entry.placement_id,
                              sha256=entry.sha256, key=keys[which], expected_sha256=expected,
                              found_sha256=found)

    try:
        data = store.get(keys[which])
    except NotFound as e:
        # The index says it was archived: a missing object is damage, not a wrong address.
        raise damaged(f"{keys[which]}: missing from the archive store") from e
    if expected is not None and (found := sha256_hex(data)) != expected:
        raise damaged(f"{keys[which]}: the stored bytes fail their integrity check (SHA-256 "
                      f"{found}, archived as {expected})", found)
    return data


def record_damage(session: Session, damage: ArchiveDamaged, *, actor: audit.Actor,
                  now: datetime | None = None) -> None:
    """Record a failed integrity check of an entry's object found while reading it, as
    `archive verify` does (the entry marked failed, `archive.verified` in the trail).

    The request that found it is refused and rolls back; this record outlives that.
    """
    if damage.entry_id is None:
        return
    now = (now or datetime.now(UTC)).astimezone(UTC)
    entry_id = damage.entry_id

    def mark(target: Session) -> None:
        entry = target.get(ArchiveEntry, entry_id)
        if entry is not None:
            entry.last_verified_at = now
            entry.last_verified_ok = False

    keep_on_rollback(session, mark)
    audit.record_refusal(session, "archive.verified", actor, placement_id=damage.placement_id,
                         sha256=damage.sha256, ok=False, signatures=False,
                         problems=[str(damage)], object=damage.key,
                         found_sha256=damage.found_sha256, found_by="reading it")


def download(session: Session, sha256: str, *, store: ArchiveStore,
             actor: audit.Actor) -> tuple[bytes, str]:
    """The archived PDF and a file name; the download is recorded in the trail."""
    entry = entry_by_sha(session, sha256)
    data = read_object(entry, "pdf", store=store)
    audit.record(session, "archive.downloaded", actor, placement_id=entry.placement_id,
                 sha256=entry.sha256, document=entry.reference)
    return data, f"{entry.reference}-v{entry.version}.pdf"


def export_package(session: Session, shas: Sequence[str], *, store: ArchiveStore,
                   sources: LtvSources, actor: audit.Actor,
                   now: datetime | None = None) -> bytes:
    """A ZIP an auditor can check offline (`archive.package`); the export is in the trail."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    entries = [entry_by_sha(session, sha) for sha in dict.fromkeys(s.lower() for s in shas)]
    if not entries:
        raise InvalidInput("documents", Reason(
            N_("kies minstens één gearchiveerd document om te exporteren")))
    documents = []
    for entry in entries:
        files: dict[str, bytes] = {}
        for which, suffix in (("pdf", ".pdf"), ("manifest", ".manifest.json"),
                              ("report", ".report.json"), ("html", ".report.html")):
            files[f"{entry.sha256}{suffix}"] = read_object(entry, which, store=store)
        for which, key in zip(("etsi", "report_pdf"), records.report_keys(entry.sha256),
                              strict=True):
            if store.exists(key):  # entries archived before issue 16 have neither
                files[key.rsplit("/", 1)[-1]] = read_object(entry, which, store=store)
        documents.append(PackagedDocument(entry.sha256, entry.reference, entry.version,
                                          entry.manifest_sha256, files))
    placements = sorted({e.placement_id for e in entries})
    events = session.scalars(select(AuditEvent).where(AuditEvent.placement_id.in_(placements))
                             .order_by(AuditEvent.id))
    head = session.execute(select(AuditEvent.id, AuditEvent.hash)
                           .order_by(AuditEvent.id.desc()).limit(1)).first()
    data = build_package(documents, trail=[audit.entry_json(e) for e in events],
                         placements=placements, head=(head[0], head[1]) if head else None,
                         trust_roots=sources.trust_roots, crls=sources.crls,
                         created_by=actor.name, now=now)
    for placement_id in placements:
        audit.record(session, "archive.exported", actor, placement_id=placement_id,
                     sha256s=[e.sha256 for e in entries if e.placement_id == placement_id])
    return data
