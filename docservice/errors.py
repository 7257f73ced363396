"""The errors docservice raises: each carries the data that explains it, never an HTTP code."""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType

#: The gettext catalogues (nl, en) that the web face reads too.
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def N_(message: str) -> str:  # noqa: N802 - the name gettext's extraction looks for
    """Mark `message` for the catalogue (`make i18n`); it is translated where it is shown."""
    return message


@cache
def _english() -> gettext.NullTranslations:
    return gettext.translation("messages", str(TRANSLATIONS), languages=["en"], fallback=True)


class Reason:
    """Why something is refused, as data: a Dutch msgid of the catalogue and its values.

    The web face says it in the page's language (`web.i18n.reason_text`); `str()` says it in
    English, from the same catalogue, for logs, the CLI and the API.
    """

    __slots__ = ("msgid", "values")

    def __init__(self, msgid: str, /, **values: object) -> None:
        self.msgid = msgid
        self.values: Mapping[str, object] = MappingProxyType(dict(values))

    def translated(self, translate: Callable[[str], str]) -> str:
        """The reason in the language of `translate` (a gettext function), values filled in."""
        text = translate(self.msgid)
        return text % dict(self.values) if self.values else text

    def dutch(self) -> str:
        """The reason as the msgid says it."""
        return self.translated(lambda msgid: msgid)

    def __str__(self) -> str:
        return self.translated(_english().gettext)

    def __repr__(self) -> str:
        return f"Reason({self.msgid!r}, **{dict(self.values)!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Reason) and other.msgid == self.msgid
                and dict(other.values) == dict(self.values))

    def __hash__(self) -> int:
        return hash((self.msgid, tuple(sorted((k, str(v)) for k, v in self.values.items()))))


def as_reason(reason: Reason | str) -> Reason:
    """`reason`, or a text said as it is (outside the catalogue: a library's own words)."""
    return reason if isinstance(reason, Reason) else Reason(reason)


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
    reason: Reason

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
    """An envelope cannot be opened or changed in its current state; `reason` says why."""

    def __init__(self, reason: Reason | str) -> None:
        self.reason = as_reason(reason)
        super().__init__(str(self.reason))


class InvalidInput(DocserviceError):
    """A form field holds something the service cannot accept; `field` names it."""

    def __init__(self, field: str, reason: Reason | str) -> None:
        self.field = field
        self.reason = as_reason(reason)
        super().__init__(f"{field}: {self.reason}")


class UploadRefused(DocserviceError):
    """Signed documents uploaded by a signer that the service cannot accept, with every reason."""

    def __init__(self, problems: Mapping[str, Sequence[Reason | str]]) -> None:
        self.problems = {document: [as_reason(r) for r in reasons]
                         for document, reasons in problems.items()}
        super().__init__("the signed documents were not accepted: " + "; ".join(
            f"{document}: {' '.join(map(str, reasons))}"
            for document, reasons in self.problems.items()))

    def in_english(self) -> dict[str, list[str]]:
        """The problems as text, for the audit trail."""
        return {document: [str(r) for r in reasons] for document, reasons in self.problems.items()}


class ConfirmationRequired(DocserviceError):
    """An action would make signatures worthless: it needs the coordinator's confirmation of
    exactly these signatures (`token` names them), asked for on a page that lists `lost`."""

    # `lost` holds services.placement_edits.LostSignature values (a layer above: not named).
    def __init__(self, lost: Sequence[object], token: str) -> None:
        super().__init__("this would cancel signatures (" + ", ".join(map(str, lost))
                         + "): confirm first")
        self.lost = lost
        self.token = token
