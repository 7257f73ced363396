"""What the desk's pages list beside the statuses: each row's documents as their PDFs say,
who signed them when, and the choices of the dashboard's filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from docservice.models import AcademicYear, Document, DocumentKind, Placement, Revision
from docservice.services.desk import PlacementStatus
from docservice.services.desk_verification import (
    MISSING,
    PdfVerdict,
    found_hashes,
    verdicts_for,
)
from docservice.signing.qualification import label_nl


@dataclass(frozen=True)
class SignatureLine:
    """One signer on one document, as the desk shows it."""

    role: str
    table_signed: bool
    table_signed_at: datetime | None
    pdf_signed: bool | None
    pdf_time: str | None
    signer_name: str | None
    reasons: tuple[str, ...]
    qualification: str = ""  # "gekwalificeerd, eID", "niet gekwalificeerd", ...

    @property
    def signed(self) -> bool:
        return self.pdf_signed if self.pdf_signed is not None else self.table_signed

    @property
    def disagrees(self) -> bool:
        return self.pdf_signed is not None and self.pdf_signed != self.table_signed


@dataclass(frozen=True)
class DocumentLine:
    """One current document of a placement: its PDF's verdict and who signed it when."""

    document_id: int
    kind: str
    reference: str
    sha256: str
    found_sha256: str | None
    verdict: PdfVerdict | None
    signatures: tuple[SignatureLine, ...]

    @property
    def title_key(self) -> str:
        return f"doc.{self.kind}"

    @property
    def changed(self) -> bool:
        """The stored file no longer hashes to the name it was stored under."""
        return self.found_sha256 is not None and self.found_sha256 != self.sha256

    @property
    def missing(self) -> bool:
        return self.found_sha256 == MISSING

    @property
    def verified(self) -> bool:
        return self.changed or self.verdict is not None


@dataclass
class Details:
    """Documents and signature lines of the placements on screen, by placement id."""

    documents: dict[int, list[DocumentLine]] = field(default_factory=dict)

    def of(self, placement_id: int) -> list[DocumentLine]:
        return self.documents.get(placement_id, [])


def current_revisions(session: Session, placement_ids: Sequence[int]) -> list[Any]:
    """(placement_id, document_id, kind, reference, revision sha256) of current documents."""
    if not placement_ids:
        return []
    d, rv = Document.__table__.c, Revision.__table__.c
    latest = (select(rv.document_id, func.max(rv.number).label("number"))
              .where(rv.document_id.in_(select(d.id).where(d.placement_id.in_(placement_ids))))
              .group_by(rv.document_id).subquery())
    order = {k.value: i for i, k in enumerate(DocumentKind)}
    rows = list(session.execute(
        select(d.placement_id, d.id, d.kind, d.reference, rv.sha256)
        .join(latest, latest.c.document_id == d.id)
        .join(Revision.__table__, and_(rv.document_id == d.id, rv.number == latest.c.number))
        .where(d.superseded_at.is_(None), d.placement_id.in_(placement_ids))))
    return sorted(rows, key=lambda r: (r.placement_id, order.get(r.kind, 99), r.id))


def load_details(session: Session, statuses: Sequence[PlacementStatus]) -> Details:
    """Per-document verdicts and signature lines for `statuses` (the rows on screen)."""
    by_id = {s.placement_id: s for s in statuses}
    rows = current_revisions(session, list(by_id))
    shas = [r.sha256 for r in rows]
    found = found_hashes(session, shas)
    verdicts = verdicts_for(session, [f for f in found.values() if f != MISSING] + shas)
    details = Details()
    for row in rows:
        status = by_id[row.placement_id]
        found_sha = found.get(row.sha256)
        changed = found_sha is not None and found_sha != row.sha256
        verdict = verdicts.get(found_sha if found_sha is not None and changed
                               and found_sha != MISSING else row.sha256)
        if changed and found_sha == MISSING:
            verdict = None
        lines = []
        for role_status in status.roles:
            role = role_status.role
            pdf_signed: bool | None = None
            reasons: tuple[str, ...] = ()
            pdf_time = signer = None
            qualification = ""
            if changed:
                pdf_signed = False
            elif verdict is not None:
                pdf_signed = verdict.role_ok(role)
                reasons = verdict.reasons_for(role)
                sig = next((s for s in verdict.signatures if s.role == role), None)
                if sig is not None:
                    pdf_time, signer = sig.time, sig.signer_name
                    qualification = label_nl(sig.qualification, sig.belgian_eid)
            if changed and verdict is not None:
                reasons = verdict.reasons_for(role)
            lines.append(SignatureLine(
                role=role, table_signed=role_status.table_signed,
                table_signed_at=role_status.table_signed_at, pdf_signed=pdf_signed,
                pdf_time=pdf_time, signer_name=signer, reasons=reasons,
                qualification=qualification))
        details.documents.setdefault(row.placement_id, []).append(DocumentLine(
            document_id=row.id, kind=row.kind, reference=row.reference, sha256=row.sha256,
            found_sha256=found_sha, verdict=verdict, signatures=tuple(lines)))
    return details


def document_line(session: Session, document: Document) -> DocumentLine:
    """One document's stored-file check and verdict, without the table's side (any document)."""
    sha = document.current_revision.sha256
    found = found_hashes(session, [sha]).get(sha)
    changed = found is not None and found != sha
    key = found if found is not None and changed and found != MISSING else sha
    verdict = None if found == MISSING else verdicts_for(session, [key]).get(key)
    return DocumentLine(document_id=document.id, kind=document.kind,
                        reference=document.reference, sha256=sha, found_sha256=found,
                        verdict=verdict, signatures=())


def distinct_docents(session: Session, year: str | None) -> list[tuple[str, str]]:
    """(name, e-mail) of the docents with placements in `year`, for the filter."""
    p, y = Placement.__table__.c, AcademicYear.__table__.c
    query = (select(p.docent_name, p.docent_email).distinct()
             .select_from(Placement.__table__.join(AcademicYear.__table__,
                                                  p.academic_year_id == y.id))
             .order_by(p.docent_name))
    if year:
        query = query.where(y.code == year)
    return [(name, email) for name, email in session.execute(query)]


def year_codes(session: Session) -> list[str]:
    """Academic years, newest first."""
    return list(session.scalars(select(AcademicYear.code).order_by(AcademicYear.code.desc())))
