"""Each party's copy: once an envelope is archived, student, company and school get a link to
the archived (B-LTA) PDFs and their verification reports, as the agreement promises them.

The links are access links of purpose "copy", one per signature request, stored hashed and
expiring after DOCSERVICE_COPY_LINK_DAYS. What they serve is read from the write-once archive
(checked against the SHA-256 it was archived with), never from the working blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.archive.store import ArchiveStore
from docservice.config import Settings
from docservice.documents.catalogue import TITLES
from docservice.errors import LinkExpired, LinkInvalid, NotFound
from docservice.mail.compose import DocumentRef
from docservice.mail.delivery import Sender
from docservice.models import (
    AccessLink,
    ArchiveEntry,
    Document,
    DocumentKind,
    Envelope,
    EnvelopeStatus,
    RequestStatus,
    SignatureRequest,
)
from docservice.services import archive_search, links, notifications
from docservice.services.links import COPY

# What a copy link serves of an archived document: (archive object, media type, file suffix)
FILES = {
    "pdf": ("pdf", "application/pdf", ".pdf"),
    "report.pdf": ("report_pdf", "application/pdf", ".report.pdf"),
    "report.html": ("html", "text/html; charset=utf-8", ".report.html"),
    "report.json": ("report", "application/json", ".report.json"),
    "report.etsi.xml": ("etsi", "application/xml", ".report.etsi.xml"),
}


RESEND_PAUSE = timedelta(minutes=2)


@dataclass(frozen=True)
class Copy:
    """One archived document as a party sees it."""

    title: str
    kind: str
    reference: str
    sha256: str
    archived_at: datetime
    student_number: str


def _current_documents(envelope: Envelope) -> list[Document]:
    return [d for d in envelope.documents if d.superseded_at is None]


def archived_copies(session: Session, envelope: Envelope) -> list[ArchiveEntry] | None:
    """The current archive entry of every document of a completed envelope, in the envelope's
    order; None while any of them is not archived (yet)."""
    if envelope.status != EnvelopeStatus.COMPLETED.value:
        return None
    documents = _current_documents(envelope)
    if not documents:
        return None
    entries = {e.document_id: e for e in session.scalars(select(ArchiveEntry).where(
        ArchiveEntry.document_id.in_([d.id for d in documents]),
        ArchiveEntry.superseded_at.is_(None), ArchiveEntry.purged_at.is_(None)))}
    if any(d.id not in entries for d in documents):
        return None
    return [entries[d.id] for d in documents]


def copies_of(session: Session, envelope: Envelope, language: str) -> list[Copy] | None:
    """`archived_copies`, titled in `language`."""
    entries = archived_copies(session, envelope)
    if entries is None:
        return None
    return [Copy(title=TITLES[DocumentKind(e.document_kind)][language], kind=e.document_kind,
                 reference=e.reference, sha256=e.sha256, archived_at=e.archived_at,
                 student_number=e.student_number) for e in entries]


def send_copies(session: Session, envelope_id: int, *, now: datetime, mailer: Sender,
                settings: Settings, actor: audit.Actor = audit.SYSTEM) -> int:
    """Mail every party of a fully archived envelope a link to its copies, once; the number of
    mails queued (0 while something is not archived, or when they went out before)."""
    envelope = session.get(Envelope, envelope_id, with_for_update=True)  # one sender at a time
    if envelope is None or archived_copies(session, envelope) is None:
        return 0
    requests = [r for r in envelope.requests if r.status == RequestStatus.SIGNED.value]
    sent_before = session.scalars(select(AccessLink.id).where(
        AccessLink.purpose == COPY,
        AccessLink.signature_request_id.in_([r.id for r in requests]))).first()
    if sent_before is not None:
        return 0
    for request in requests:
        _send_copy_link(session, request, now=now, actor=actor, mailer=mailer,
                        settings=settings)
    audit.record(session, "copies.sent", actor, placement_id=envelope.placement_id,
                 envelope_id=envelope.id, to=[r.signer_email for r in requests])
    return len(requests)


def resend_copy_link(session: Session, token: str, *, now: datetime, actor: audit.Actor,
                     mailer: Sender, settings: Settings
                     ) -> tuple[SignatureRequest, datetime | None]:
    """A new copy link for whoever holds a used signing link or an old copy link, mailed to the
    address the service knows for them (never to one the caller names).

    Returns the party and, when a link went out less than RESEND_PAUSE ago, when that was
    (then no new one is sent: a button pressed twice sends one mail).
    """
    link = links.find_link(session, token)
    if link is None or link.purpose not in (links.SIGN, COPY):
        raise LinkInvalid()
    request = link.signature_request
    if (request is None or request.status != RequestStatus.SIGNED.value
            or archived_copies(session, request.envelope) is None):
        raise NotFound("signed documents")
    recent = session.scalars(select(AccessLink.created_at).where(
        AccessLink.purpose == COPY, AccessLink.signature_request_id == request.id,
        AccessLink.created_at > now - RESEND_PAUSE).order_by(AccessLink.id.desc())).first()
    if recent is None:
        _send_copy_link(session, request, now=now, actor=actor, mailer=mailer,
                        settings=settings)
    return request, recent


def _send_copy_link(session: Session, request: SignatureRequest, *, now: datetime,
                    actor: audit.Actor, mailer: Sender, settings: Settings) -> None:
    envelope = request.envelope
    link, token = links.issue_link(
        session, envelope.placement, purpose=COPY, now=now, actor=actor,
        valid_for=timedelta(days=settings.copy_link_days),
        signature_request_id=request.id)
    copies = copies_of(session, envelope, request.language) or []
    notifications.send_copies(
        session, request, url=settings.public_url(f"/copies/{token}"),
        expires_at=link.expires_at, mailer=mailer,
        copies=[DocumentRef(c.title, c.reference, c.sha256) for c in copies])


def resolve_copy_link(session: Session, token: str, *, now: datetime
                      ) -> tuple[AccessLink, SignatureRequest, list[Copy]]:
    """The live copy link for `token`, its party and the copies (404 / 410 as for any link)."""
    link = links.resolve_link(session, token, purpose=COPY, now=now)
    request = link.signature_request
    copies = copies_of(session, request.envelope, request.language) if request else None
    if request is None or copies is None:
        # Purged or renewed away since: the link has nothing left to give.
        raise LinkExpired(now, link_id=link.id, placement_id=link.placement_id, purpose=COPY)
    return link, request, copies


def read_copy(session: Session, token: str, sha256: str, which: str, *, now: datetime,
              actor: audit.Actor, store: ArchiveStore) -> tuple[bytes, str, str]:
    """One archived object of the copy link's envelope: (bytes, media type, file name)."""
    _link, request, _copies = resolve_copy_link(session, token, now=now)
    return read_archived(session, request.envelope, sha256, which, actor=actor,
                         role=request.role, store=store)


def read_archived(session: Session, envelope: Envelope | None, sha256: str, which: str, *,
                  actor: audit.Actor, role: str, store: ArchiveStore) -> tuple[bytes, str, str]:
    """One archived object of `envelope`'s documents, checked against what was archived:
    (bytes, media type, file name); the download goes into the trail."""
    if which not in FILES or envelope is None:
        raise NotFound("file")
    entries = [e for e in archived_copies(session, envelope) or [] if e.sha256 == sha256]
    if not entries:
        raise NotFound("document")
    entry = entries[0]
    kind, media_type, suffix = FILES[which]
    data = archive_search.read_object(entry, kind, store=store)
    audit.record(session, "copy.downloaded", actor, placement_id=envelope.placement_id,
                 role=role, document=entry.reference, sha256=entry.sha256, file=which)
    return data, media_type, f"{entry.student_number}-{entry.document_kind}{suffix}"
