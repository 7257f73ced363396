"""Accounts of the people who log in."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from docservice.errors import AlreadyExists, DocserviceError
from docservice.models import Role, User

MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class WeakPassword(DocserviceError):
    """A password too short to protect contracts."""


def add_user(session: Session, *, email: str, name: str, role: str, password: str) -> User:
    """A new account; passwords are stored only as salted hashes."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise DocserviceError(f"{email!r} is not an e-mail address")
    if role not in {r.value for r in Role}:
        raise DocserviceError(f"role must be one of {', '.join(r.value for r in Role)}")
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD} characters")
    if session.scalars(select(User).where(User.email == email)).first():
        raise AlreadyExists(f"a user {email} exists already")
    user = User(email=email, name=name.strip() or email, role=role,
                password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).first()
    if user is None or not user.active:
        # Spend the same time as a real check, so that timing does not reveal accounts.
        check_password_hash(generate_password_hash("x"), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None
