"""The errors docservice raises: each carries the data that explains it, never an HTTP code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class DocserviceError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigurationError(DocserviceError):
    """The settings are incomplete or contradictory; the service must not start."""


class SigningConfigurationError(ConfigurationError):
    """Production signing lacks settings; `missing` names each one."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("production signing is not configured: missing " + "; ".join(missing))
        self.missing = tuple(missing)


class NotFound(DocserviceError):
    """A thing the caller asked for does not exist (or may not be seen by them)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class LinkInvalid(NotFound):
    """A personal link whose token matches nothing."""

    def __init__(self) -> None:
        super().__init__("link")


class LinkExpired(DocserviceError):
    """A personal link that existed but no longer works."""

    def __init__(self, expired_at: datetime, *, replaced: bool = False,
                 link_id: int | None = None, placement_id: int | None = None,
                 purpose: str | None = None) -> None:
        why = "was replaced by a newer link" if replaced else "expired"
        super().__init__(f"this link {why} on {expired_at:%d/%m/%Y %H:%M}")
        self.expired_at = expired_at
        self.replaced = replaced
        # Which link, for the audit trail's record of the refusal.
        self.link_id = link_id
        self.placement_id = placement_id
        self.purpose = purpose


class TemplateVariableMissing(DocserviceError):
    """A template uses a variable that the placement's data does not provide."""

    def __init__(self, template: str, variable: str) -> None:
        super().__init__(f"template {template} uses '{variable}', which the data lacks")
        self.template = template
        self.variable = variable


class TemplateError(DocserviceError):
    """A template cannot be read or rendered for another reason than a missing variable."""


class ConversionError(DocserviceError):
    """LibreOffice could not turn a DOCX into a PDF."""


class SignatureBlockNotFound(DocserviceError):
    """The rendered document lacks the signature block the signature fields belong in."""

    def __init__(self, document: str, anchor: str, reason: str = "not found") -> None:
        super().__init__(f"{document}: signature anchor '{anchor}' {reason}")
        self.document = document
        self.anchor = anchor


@dataclass(frozen=True)
class RowError:
    """One reason why one cell of an imported CSV file is refused."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


class ImportRejected(DocserviceError):
    """A CSV import refused as a whole; nothing was stored."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"import rejected, nothing stored: {len(errors)} error(s)")
        self.errors = errors


class AlreadyExists(DocserviceError):
    """A write-once thing exists already with other content."""


class OutOfOrder(DocserviceError):
    """A signer tried to sign before the signer whose turn it is."""

    def __init__(self, role: str, expected_role: str) -> None:
        super().__init__(f"waiting for {expected_role} to sign first")
        self.role = role
        self.expected_role = expected_role


class AlreadySigned(DocserviceError):
    """A signer tried to sign (or decline) twice."""

    def __init__(self, role: str, signed_at: datetime | None) -> None:
        when = f" on {signed_at:%d/%m/%Y %H:%M} UTC" if signed_at else ""
        super().__init__(f"the {role} has signed already{when}")
        self.role = role
        self.signed_at = signed_at


class EnvelopeClosed(DocserviceError):
    """The envelope was declined, cancelled or completed: nothing more can be signed."""

    def __init__(self, status: str) -> None:
        super().__init__(f"this envelope is {status}: nothing can be signed any more")
        self.status = status


class EnvelopeConflict(DocserviceError):
    """An envelope cannot be opened or changed in its current state."""


class InvalidInput(DocserviceError):
    """A form field holds something the service cannot accept; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UploadRefused(DocserviceError):
    """Signed documents uploaded by a signer that the service cannot accept, with every reason."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__("the signed documents were not accepted: " + "; ".join(
            f"{document}: {' '.join(reasons)}" for document, reasons in problems.items()))
        self.problems = problems


class ConfirmationRequired(DocserviceError):
    """An action would make signatures worthless: it needs the coordinator's confirmation of
    exactly these signatures (`token` names them), asked for on a page that lists `lost`."""

    # `lost` holds services.placement_edits.LostSignature values (a layer above: not named).
    def __init__(self, lost: Sequence[object], token: str) -> None:
        super().__init__("this would cancel signatures (" + ", ".join(map(str, lost))
                         + "): confirm first")
        self.lost = lost
        self.token = token
