"""API tokens for coordinators: shown once, stored only as their SHA-256."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.domain import hash_token
from docservice.errors import DocserviceError, NotFound
from docservice.models import ApiToken, Role, User

PREFIX = "dsk_"
#: Who may hold a token: the API lists placements, as the coordinator's desk does.
TOKEN_ROLES = (Role.COORDINATOR.value, Role.ADMIN.value)


def create_token(session: Session, email: str, *, name: str, now: datetime,
                 actor: audit.Actor) -> tuple[ApiToken, str]:
    """A new token for the user with `email`; returns the row and the secret (shown once)."""
    user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())
                           ).first()
    if user is None:
        raise NotFound(f"user {email}")
    if not user.active:
        raise DocserviceError(f"{user.email} is deactivated: no token")
    if user.role not in TOKEN_ROLES:
        raise DocserviceError(f"{user.email} is {user.role}: API tokens are for "
                              f"{' and '.join(TOKEN_ROLES)} accounts")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=hash_token(secret), prefix=secret[:12],
                     name=(name.strip() or "api")[:200], created_at=now)
    session.add(token)
    session.flush()
    audit.record(session, "api_token.created", actor, user=user.email, token_id=token.id,
                 prefix=token.prefix)
    return token, secret


def resolve_token(session: Session, secret: str, *, now: datetime) -> User | None:
    """The active user a live token belongs to, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 128:
        return None
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
                            ).first()
    if token is None or token.revoked_at is not None:
        return None
    user = token.user
    if not user.active:
        return None
    # Write at most once a minute: a busy client should not turn every read into a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return user


def revoke_tokens(session: Session, email: str, *, now: datetime, actor: audit.Actor) -> int:
    """Revoke every live token of the user with `email`."""
    user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())
                           ).first()
    if user is None:
        raise NotFound(f"user {email}")
    tokens = list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                         ApiToken.revoked_at.is_(None))))
    for token in tokens:
        token.revoked_at = now
    audit.record(session, "api_token.revoked", actor, user=user.email,
                 token_ids=[t.id for t in tokens])
    return len(tokens)


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """A user's tokens, newest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                .order_by(ApiToken.id.desc())))
