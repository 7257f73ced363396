"""The desk's statuses, computed from the database: for a whole cohort, kept in a `StatusCache`.

Everything is computed for many placements at once with a handful of aggregate queries, so
that the dashboard stays fast for a whole cohort (see `desk` for what a status says).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from docservice.config import DeskSettings
from docservice.domain import SIGNER_ROLES, today_in_brussels
from docservice.models import (
    AcademicYear,
    AuditEvent,
    Document,
    Envelope,
    EnvelopeStatus,
    Placement,
    RequestStatus,
    Revision,
    SignatureRequest,
    StoredFileCheck,
    UTCDateTime,
    VerificationCache,
)
from docservice.services.desk import (
    WAITING,
    DeskFilter,
    Disagreement,
    PlacementStatus,
    RoleStatus,
    State,
    placement_state,
    sort_statuses,
)
from docservice.services.desk_verification import ENGINE
from docservice.services.text import fold

# --- the queries ------------------------------------------------------------------------------


def _placements_select(year: str | None, placement_ids: tuple[int, ...] | None) -> Select[Any]:
    p, y = Placement.__table__.c, AcademicYear.__table__.c
    query = (select(p.id, p.student_number, p.student_first_name, p.student_last_name,
                    p.student_email, p.company_name, p.docent_name, p.docent_email,
                    p.start_date, p.end_date, p.language, p.nda, p.copyright_waiver,
                    y.code, y.contract_deadline, y.coordinator_email)
             .select_from(Placement.__table__.join(AcademicYear.__table__,
                                                  p.academic_year_id == y.id)))
    if year:
        query = query.where(y.code == year)
    if placement_ids is not None:
        query = query.where(p.id.in_(placement_ids))
    return query


def _live_envelopes(ids: Any) -> Any:
    e = Envelope.__table__.c
    return (select(e.placement_id, func.max(e.id).label("envelope_id"))
            .where(e.status != EnvelopeStatus.CANCELLED.value, e.placement_id.in_(ids))
            .group_by(e.placement_id).subquery("live"))


def _signed_at(role: str) -> ColumnElement[Any]:
    r = SignatureRequest.__table__.c
    return func.max(case((and_(r.role == role, r.status == RequestStatus.SIGNED.value),
                          r.signed_at)))


def _requests_summary(envelope_ids: Any) -> Any:
    r = SignatureRequest.__table__.c
    columns: list[Any] = [r.envelope_id]
    for role in SIGNER_ROLES:
        columns.append(_signed_at(role).label(f"{role}_signed_at"))
        columns.append(func.max(case((r.role == role, r.status))).label(f"{role}_status"))
    columns.append(func.min(case((r.status == RequestStatus.PENDING.value, r.position)))
                   .label("pending_position"))
    columns.append(func.max(case((r.status == RequestStatus.PENDING.value, r.signer_email)))
                   .label("pending_email"))
    columns.append(func.max(case((r.status == RequestStatus.PENDING.value, r.signer_name)))
                   .label("pending_name"))
    return (select(*columns).where(r.envelope_id.in_(envelope_ids))
            .group_by(r.envelope_id).subquery("req"))


def _documents_summary(ids: Any, engine: str) -> Any:
    d, rv = Document.__table__.c, Revision.__table__.c
    fc, vc = StoredFileCheck.__table__.c, VerificationCache.__table__.c
    # The newest revision of each document, looked up through the (document_id, number) key:
    # cheaper than grouping every revision of the cohort first.
    newer = Revision.__table__.alias("newer")
    newest = (select(func.max(newer.c.number)).where(newer.c.document_id == d.id)
              .scalar_subquery())
    current = (Document.__table__
               .join(Revision.__table__, and_(rv.document_id == d.id, rv.number == newest))
               .outerjoin(StoredFileCheck.__table__, fc.sha256 == rv.sha256)
               .outerjoin(VerificationCache.__table__,
                          and_(vc.sha256 == rv.sha256, vc.engine == engine)))
    changed = and_(fc.found_sha256.is_not(None), fc.found_sha256 != rv.sha256)
    columns: list[Any] = [
        d.placement_id,
        func.count().label("documents"),
        func.sum(case((or_(changed, vc.id.is_not(None)), 1), else_=0)).label("verified"),
        func.sum(case((changed, 1), else_=0)).label("changed"),
    ]
    for role in SIGNER_ROLES:
        ok = getattr(vc, f"{role}_ok")
        columns.append(func.sum(case((and_(~changed, ok == true()), 1), else_=0))
                       .label(f"{role}_pdf"))
    return (select(*columns).select_from(current)
            .where(d.superseded_at.is_(None), d.placement_id.in_(ids))
            .group_by(d.placement_id).subquery("docs"))


def _compute(session: Session, year: str | None,
             placement_ids: tuple[int, ...] | None, *, today: date,
             settings: DeskSettings) -> list[PlacementStatus]:
    base = _placements_select(year, placement_ids).subquery("p")
    ids = select(base.c.id)
    live = _live_envelopes(ids)
    e = Envelope.__table__.c
    req = _requests_summary(select(live.c.envelope_id))
    docs = _documents_summary(ids, ENGINE)
    query = (select(base, live.c.envelope_id, e.status.label("envelope_status"),
                    e.decline_reason, req, docs)
             .select_from(base
                          .outerjoin(live, live.c.placement_id == base.c.id)
                          .outerjoin(Envelope.__table__, e.id == live.c.envelope_id)
                          .outerjoin(req, req.c.envelope_id == live.c.envelope_id)
                          .outerjoin(docs, docs.c.placement_id == base.c.id)))
    utc = UTCDateTime()
    result = session.execute(query)
    keys = list(result.keys())
    # Plain dicts: a row mapping's lookups cost more than the rest of the status together.
    return [_status(dict(zip(keys, row, strict=True)), today=today, settings=settings, utc=utc)
            for row in result]


# A cohort's statuses are computed with a few aggregate queries over every document, which
# takes a while for thousands of placements; they are kept per process until the database
# says something changed (every change to envelopes, signatures and documents leaves an audit
# event; the desk's own verdicts and file checks carry their time), and at most
# `DeskSettings.status_cache_seconds` in any case (a change that bypassed the service).


@dataclass
class _Cached:
    fingerprint: tuple[Any, ...]
    built: float
    statuses: list[PlacementStatus]
    orders: dict[str, list[PlacementStatus]] = field(default_factory=dict)


class StatusCache:
    """A process's computed cohort statuses, by (year, day, risk window, engine): the runtime
    holds one and hands it to `load_statuses`; entries are checked against the database's
    fingerprint before use."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Cached] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> _Cached | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[Any, ...], entry: _Cached) -> None:
        with self._lock:
            self._entries[key] = entry


def _fingerprint(session: Session) -> tuple[Any, ...]:
    def biggest(column: Any) -> Any:
        return select(func.max(column)).scalar_subquery()

    def count(model: Any) -> Any:
        return select(func.count()).select_from(model).scalar_subquery()

    values = session.execute(select(
        biggest(AuditEvent.id), biggest(Revision.id), biggest(Envelope.id),
        biggest(Placement.id), count(Placement), biggest(VerificationCache.verified_at),
        count(VerificationCache), biggest(StoredFileCheck.checked_at), count(StoredFileCheck),
    )).one()
    years = session.execute(select(AcademicYear.id, AcademicYear.code,
                                   AcademicYear.contract_deadline,
                                   AcademicYear.coordinator_email)).all()
    return (*(str(v) for v in values), *(tuple(y) for y in years))


def _year_statuses(session: Session, year: str | None, *, today: date,
                   settings: DeskSettings, cache: StatusCache | None) -> _Cached:
    if cache is None:
        return _Cached((), time.monotonic(),
                       _compute(session, year, None, today=today, settings=settings))
    key = (year, today, settings.risk_window_days, ENGINE)
    fingerprint = _fingerprint(session)
    now = time.monotonic()
    entry = cache.get(key)
    if (entry is not None and entry.fingerprint == fingerprint
            and now - entry.built <= settings.status_cache_seconds):
        return entry
    entry = _Cached(fingerprint, now, _compute(session, year, None, today=today,
                                                settings=settings))
    if settings.status_cache_seconds > 0:
        cache.put(key, entry)
    return entry


def _matcher(flt: DeskFilter) -> Callable[[PlacementStatus], bool]:
    """The filter as a test on one status (its words folded once, not once per placement)."""
    company = fold(flt.company) if flt.company else None
    docent = flt.docent.strip().casefold() if flt.docent else None
    words = fold(flt.query).split() if flt.query else []

    def matches(status: PlacementStatus) -> bool:
        if company and company not in status.company_key:
            return False
        if docent and docent not in (status.docent_email.casefold(),
                                     status.docent_name.casefold()):
            return False
        if words and not all(word in status.search_text for word in words):
            return False
        return not flt.state or status.matches(flt.state)

    return matches


def load_statuses(session: Session, flt: DeskFilter, *, now: datetime, settings: DeskSettings,
                  cache: StatusCache | None = None) -> list[PlacementStatus]:
    """The status of every placement the filter selects, sorted as it asks; a whole year's
    statuses are kept in `cache` (when given) until the database changes."""
    today = today_in_brussels(now)
    if flt.placement_ids is not None:
        found = _compute(session, flt.year, flt.placement_ids, today=today, settings=settings)
        return sort_statuses(list(filter(_matcher(flt), found)), flt.sort)
    entry = _year_statuses(session, flt.year, today=today, settings=settings, cache=cache)
    ordered = entry.orders.get(flt.sort)
    if ordered is None:
        ordered = entry.orders[flt.sort] = sort_statuses(entry.statuses, flt.sort)
    if not (flt.company or flt.docent or flt.query or flt.state):
        return list(ordered)
    return list(filter(_matcher(flt), ordered))


def _as_datetime(value: Any, utc: UTCDateTime) -> datetime | None:
    # Aggregates lose the column type: SQLite hands back text, PostgreSQL a datetime.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc.process_result_value(value, None)


def _status(row: Any, *, today: date, settings: DeskSettings,
            utc: UTCDateTime) -> PlacementStatus:
    documents = int(row["documents"] or 0)
    verified = int(row["verified"] or 0)
    changed = int(row["changed"] or 0)
    envelope_status = row["envelope_status"]
    roles = []
    disagreements = []
    for role in SIGNER_ROLES:
        table_status = row[f"{role}_status"]
        table_signed = table_status == RequestStatus.SIGNED.value
        pdf_signed: bool | None = None
        if documents and verified == documents:
            pdf_signed = int(row[f"{role}_pdf"] or 0) == documents
        status = RoleStatus(role=role, table_signed=table_signed,
                            table_signed_at=_as_datetime(row[f"{role}_signed_at"], utc),
                            pdf_signed=pdf_signed, status=table_status)
        roles.append(status)
        if envelope_status is not None and pdf_signed is not None and pdf_signed != table_signed:
            disagreements.append(Disagreement(role, table_signed, pdf_signed))
    if envelope_status is None:
        stage = State.DRAFT
    elif envelope_status == EnvelopeStatus.DECLINED.value:
        stage = State.DECLINED
    else:
        waiting = next((r.role for r in roles if not r.signed), None)
        stage = WAITING[waiting] if waiting else State.COMPLETE
    next_role = next_email = next_name = None
    if row["pending_position"] is not None:
        next_role = SIGNER_ROLES[int(row["pending_position"]) - 1]
        next_email, next_name = row["pending_email"], row["pending_name"]
    start, deadline = row["start_date"], row["contract_deadline"]
    state = placement_state(stage, today=today, start=start, deadline=deadline,
                            risk_window_days=settings.risk_window_days)
    required = 1 + bool(row["nda"]) + bool(row["copyright_waiver"])
    return PlacementStatus(
        placement_id=row["id"], year_code=row["code"], student_number=row["student_number"],
        first_name=row["student_first_name"], last_name=row["student_last_name"],
        student_email=row["student_email"], company_name=row["company_name"],
        docent_name=row["docent_name"], docent_email=row["docent_email"],
        start_date=start, end_date=row["end_date"], contract_deadline=deadline,
        coordinator_email=row["coordinator_email"], language=row["language"],
        envelope_id=row["envelope_id"], envelope_status=envelope_status,
        decline_reason=row["decline_reason"], stage=stage, state=state,
        next_role=next_role, next_email=next_email, next_name=next_name, roles=tuple(roles),
        documents_total=documents, documents_required=required,
        documents_verified=verified, documents_changed=changed,
        days_to_deadline=(deadline - today).days, days_to_start=(start - today).days,
        disagreements=tuple(disagreements),
    )


def placement_status(session: Session, placement_id: int, *, now: datetime,
                     settings: DeskSettings) -> PlacementStatus | None:
    """The status of one placement."""
    found = load_statuses(session, DeskFilter(placement_ids=(placement_id,)), now=now,
                          settings=settings)
    return found[0] if found else None
