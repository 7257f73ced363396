"""Accounts of the people who log in."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from docservice.archive import audit
from docservice.errors import AlreadyExists, DocserviceError, NotFound
from docservice.models import Role, User
from docservice.services.text import checked_text

MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DUMMY_HASH: list[str] = []  # made on first use: importing must not cost a hash


class WeakPassword(DocserviceError):
    """A password too short to protect contracts."""


def add_user(session: Session, *, email: str, name: str, role: str, password: str) -> User:
    """A new account; passwords are stored only as salted hashes."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise DocserviceError(f"{email!r} is not an e-mail address")
    if role not in {r.value for r in Role}:
        raise DocserviceError(f"role must be one of {', '.join(r.value for r in Role)}")
    _check_password(password)
    name = checked_text("name", name).strip()
    if session.scalars(select(User).where(User.email == email)).first():
        raise AlreadyExists(f"a user {email} exists already")
    user = User(email=email, name=name or email, role=role,
                password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD} characters")


def _dummy_hash() -> str:
    """A hash made the way real ones are, of a password nobody knows: checked for unknown
    accounts, so that they cost exactly one hash computation, as a wrong password does."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None.

    One hash is computed whatever the outcome (an unknown address is checked against a dummy
    hash): the time taken does not tell which accounts exist.
    """
    user = session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).first()
    matches = check_password_hash(user.password_hash if user is not None else _dummy_hash(),
                                  password)
    if user is None or not user.active or not matches:
        return None
    return user


def user_by_email(session: Session, email: str) -> User:
    """The account with this e-mail address (any case), or NotFound."""
    user = session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).first()
    if user is None:
        raise NotFound(f"user {email.strip()[:254]}")
    return user


def set_password(session: Session, user: User, password: str, *, actor: audit.Actor) -> None:
    """A new password; every login session of the user ends (they log in again)."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.end_sessions()
    audit.record(session, "user.password_changed", actor, email=user.email)


def deactivate(session: Session, user: User, *, actor: audit.Actor) -> None:
    """The user can no longer log in; every login session of theirs ends now."""
    user.active = False
    user.end_sessions()
    audit.record(session, "user.deactivated", actor, email=user.email)
