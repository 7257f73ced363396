"""Personal links: a secret token in the URL, only its SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.errors import LinkExpired, LinkInvalid
from docservice.models import AccessLink, Placement

STUDENT = "student"


def hash_token(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


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
        raise LinkExpired(link.revoked_at, replaced=True)
    if link.expires_at <= now:
        raise LinkExpired(link.expires_at)
    link.last_used_at = now
    return link


def record_opened(session: Session, link: AccessLink, actor: audit.Actor) -> None:
    """Put "link opened" in the placement's trail (who, from which address and browser)."""
    audit.record(session, "link.opened", actor, placement_id=link.placement_id,
                 purpose=link.purpose, link_id=link.id)
