"""The vocabulary every layer shares: signers, documents, states, the school's clock.

No dependencies on the rest of docservice (and none but the standard library), so that
models, documents, signing, archive, mail and services all speak of the same things.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

#: The school's time zone: deadlines, dates in mail and on pages are Brussels dates.
BRUSSELS = ZoneInfo("Europe/Brussels")

#: The languages documents, mail and pages come in; Dutch first (the default).
LANGUAGES = ("nl", "en")

#: The signers, in the order they sign.
SIGNER_ROLES = ("student", "company", "school")


def signature_field_name(role: str) -> str:
    """The name of the PDF signature field a role signs in."""
    return f"Signature_{role}"


#: Each signer's field name, by role.
SIGNATURE_FIELD_NAMES = {role: signature_field_name(role) for role in SIGNER_ROLES}


def today_in_brussels(now: datetime) -> date:
    """The calendar day it is at the school at `now`."""
    return now.astimezone(BRUSSELS).date()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data`, as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def hash_token(token: str) -> str:
    """What the database keeps of a secret token (links, API tokens): its SHA-256."""
    return sha256_hex(token.encode())


class DocumentKind(str, enum.Enum):
    """The documents an internship may need."""

    STAGEOVEREENKOMST = "stageovereenkomst"
    GEHEIMHOUDINGSVERKLARING = "geheimhoudingsverklaring"
    AFSTAND_AUTEURSRECHT = "afstand-auteursrecht"


class EnvelopeStatus(str, enum.Enum):
    """Where an envelope stands."""

    OPEN = "open"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class RequestStatus(str, enum.Enum):
    """Where one signer stands: waiting for the one before, asked, done or refused."""

    WAITING = "waiting"
    PENDING = "pending"
    SIGNED = "signed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
