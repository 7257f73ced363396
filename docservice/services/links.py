"""Personal links: a secret token in the URL, only its SHA-256 in the database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.domain import LANGUAGES, hash_token
from docservice.errors import LinkExpired, LinkInvalid
from docservice.models import (
    AccessLink,
    EnvelopeStatus,
    Placement,
    RequestStatus,
)

STUDENT = "student"
SIGN = "sign"
COPY = "copy"  # a party's link to the archived, fully signed documents


def issue_link(session: Session, placement: Placement, *, purpose: str, now: datetime,
               valid_for: timedelta, actor: audit.Actor,
               signature_request_id: int | None = None) -> tuple[AccessLink, str]:
    """A new link for `placement`; earlier live links for the same purpose and signer stop working."""
    for old in session.scalars(select(AccessLink).where(
        AccessLink.placement_id == placement.id, AccessLink.purpose == purpose,
        AccessLink.signature_request_id.is_(signature_request_id)
        if signature_request_id is None
        else AccessLink.signature_request_id == signature_request_id,
        AccessLink.revoked_at.is_(None),
    )):
        old.revoke(now)
    token = secrets.token_urlsafe(32)  # 256 bits
    link = AccessLink(placement_id=placement.id, purpose=purpose, token_hash=hash_token(token),
                      created_at=now, expires_at=now + valid_for,
                      signature_request_id=signature_request_id)
    session.add(link)
    session.flush()
    audit.record(session, "link.issued", actor, placement_id=placement.id, purpose=purpose,
                 link_id=link.id, expires_at=link.expires_at.isoformat())
    return link, token


def has_live_link(session: Session, placement_id: int, *, purpose: str, now: datetime,
                  signature_request_id: int | None = None) -> bool:
    """Whether a link that `issue_link` would stop is still working (unrevoked, unexpired)."""
    request_clause = (AccessLink.signature_request_id.is_(None) if signature_request_id is None
                      else AccessLink.signature_request_id == signature_request_id)
    return session.scalar(select(AccessLink.id).where(
        AccessLink.placement_id == placement_id, AccessLink.purpose == purpose, request_clause,
        AccessLink.revoked_at.is_(None), AccessLink.expires_at > now).limit(1)) is not None


def issue_sign_links(session: Session, wanted: list[tuple[int, int, datetime]], *, purpose: str,
                     now: datetime, actor: audit.Actor) -> list[tuple[str, datetime]]:
    """`issue_link` for many signers at once: (placement id, signature request id, expires at)
    each; their earlier live links stop working. (token, expires at) per item, in order.

    Three statements for all of them instead of four each: a deadline check issues thousands.
    """
    request_ids = [request_id for _p, request_id, _e in wanted]
    for i in range(0, len(request_ids), 500):
        session.execute(update(AccessLink).where(
            AccessLink.purpose == purpose, AccessLink.revoked_at.is_(None),
            AccessLink.signature_request_id.in_(request_ids[i:i + 500])).values(revoked_at=now))
    tokens = [secrets.token_urlsafe(32) for _ in wanted]  # 256 bits each
    rows: list[dict[str, Any]] = [
        {"placement_id": placement_id, "purpose": purpose, "token_hash": hash_token(token),
         "created_at": now, "expires_at": expires, "signature_request_id": request_id}
        for (placement_id, request_id, expires), token in zip(wanted, tokens, strict=True)]
    ids: list[int] = []
    for i in range(0, len(rows), 500):
        ids += session.scalars(insert(AccessLink).returning(AccessLink.id,
                                                            sort_by_parameter_order=True),
                               rows[i:i + 500]).all()
    audit.record_many(session, [
        ("link.issued", actor, row["placement_id"],
         {"purpose": purpose, "link_id": link_id, "expires_at": row["expires_at"].isoformat()})
        for row, link_id in zip(rows, ids, strict=True)])
    return [(token, row["expires_at"]) for token, row in zip(tokens, rows, strict=True)]


def resolve_link(session: Session, token: str, *, purpose: str, now: datetime) -> AccessLink:
    """The live link for `token`; LinkInvalid if none, LinkExpired if it no longer works."""
    if not token or len(token) > 128:
        raise LinkInvalid()
    link = session.scalars(
        select(AccessLink).where(AccessLink.token_hash == hash_token(token))
    ).first()
    if link is None or link.purpose != purpose:
        raise LinkInvalid()
    if link.revoked_at is not None:
        raise LinkExpired(link.revoked_at, replaced=True, link_id=link.id,
                          placement_id=link.placement_id, purpose=link.purpose)
    if link.expires_at <= now:
        raise LinkExpired(link.expires_at, link_id=link.id, placement_id=link.placement_id,
                          purpose=link.purpose)
    link.last_used_at = now
    return link


def record_opened(session: Session, link: AccessLink, actor: audit.Actor) -> None:
    """Put "link opened" in the placement's trail (who, from which address and browser)."""
    audit.record(session, "link.opened", actor, placement_id=link.placement_id,
                 purpose=link.purpose, link_id=link.id)


def find_link(session: Session, token: str) -> AccessLink | None:
    """The link a token names, whether it still works or not (None: no such link)."""
    if not token or len(token) > 128:
        return None
    return session.scalars(
        select(AccessLink).where(AccessLink.token_hash == hash_token(token))).first()


@dataclass(frozen=True)
class LinkFate:
    """Why a link no longer works, as its holder should read it."""

    what: str  # "signed", "declined", "stopped", "replaced", "revoked", "expired"
    at: datetime
    language: str
    purpose: str
    # The holder signed and the envelope is archived: a new link to the copies can be mailed.
    copies_ready: bool = False
    # The holder signed and the others have not finished yet: the copies come by e-mail later.
    copies_later: bool = False
    coordinator_name: str = ""
    coordinator_email: str = ""
    # Whose link: "student", "company" or "school" (Dutch says "je" to a student, "u" to others).
    role: str = ""

    @property
    def formal(self) -> bool:
        """Whether the holder is addressed formally ("u"): everyone but the student."""
        return self.role != STUDENT


def link_fate(session: Session, link: AccessLink, *, now: datetime) -> LinkFate:
    """What happened to a link that is refused: used to sign or decline, replaced, expired."""
    from docservice.services import copies  # the archive's side of the story

    request = link.signature_request
    placement = link.placement
    year = placement.academic_year
    language = request.language if request is not None else placement.language
    role = request.role if request is not None else STUDENT  # a link without a request: the student's
    base: dict[str, Any] = {
        "language": language if language in LANGUAGES else "nl", "purpose": link.purpose,
        "role": role,
        "coordinator_name": year.coordinator_name, "coordinator_email": year.coordinator_email}
    if link.purpose == SIGN and request is not None:
        envelope = request.envelope
        if request.status == RequestStatus.SIGNED.value and request.signed_at is not None:
            ready = copies.archived_copies(session, envelope) is not None
            return LinkFate("signed", request.signed_at, copies_ready=ready,
                            copies_later=not ready, **base)
        if request.status == RequestStatus.DECLINED.value and request.declined_at is not None:
            return LinkFate("declined", request.declined_at, **base)
        if envelope.status != EnvelopeStatus.OPEN.value and link.revoked_at is not None:
            return LinkFate("stopped", link.revoked_at, **base)
    if link.revoked_at is not None:
        newer = session.scalars(select(AccessLink.id).where(
            AccessLink.placement_id == link.placement_id, AccessLink.purpose == link.purpose,
            AccessLink.id > link.id,
            AccessLink.signature_request_id.is_(None) if link.signature_request_id is None
            else AccessLink.signature_request_id == link.signature_request_id)).first()
        what = "replaced" if newer is not None else "revoked"
        ready = (link.purpose == COPY and request is not None
                 and copies.archived_copies(session, request.envelope) is not None)
        return LinkFate(what, link.revoked_at, copies_ready=ready, **base)
    ready = (link.purpose == COPY and request is not None
             and copies.archived_copies(session, request.envelope) is not None)
    return LinkFate("expired", link.expires_at, copies_ready=ready, **base)
