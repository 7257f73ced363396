"""Errors of the signing layer; each carries the data that explains it."""

from __future__ import annotations

from pathlib import Path

from docservice.errors import DocserviceError


class SigningError(DocserviceError):
    """A signature could not be made."""


class PkiError(SigningError):
    """The PKI folder is missing, incomplete or unreadable."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"PKI in {folder}: {reason}")
        self.folder = folder
        self.reason = reason


class SignatureFieldError(SigningError):
    """The named signature field cannot be signed (absent, already signed, not a signature field)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"signature field {field_name!r}: {reason}")
        self.field_name = field_name
        self.reason = reason


class TimestampUnavailable(SigningError):
    """The timestamp authority did not answer with a usable token."""

    def __init__(self, tsa: str, reason: str) -> None:
        super().__init__(f"timestamp authority {tsa}: {reason}")
        self.tsa = tsa
        self.reason = reason


class SealUnavailable(SigningError):
    """The school's seal key cannot be used (file, token or key missing, wrong PIN or password)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"school seal in {where}: {reason}")
        self.where = where
        self.reason = reason


class KeyDiscarded(SigningError):
    """A one-shot key was used after it had been discarded."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"the one-shot key of {subject} was already discarded")
        self.subject = subject
