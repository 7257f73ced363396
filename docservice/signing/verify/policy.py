"""The two verification policies as values: what the engine demands of a file, field by field.

STRICT is for the service's own documents, which never contain anything but their
signatures; STANDARD for any other signed PDF, judged as the EU DSS validator would. The
engine reads these fields and never compares names; the names are what reports say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from docservice.signing.verify.changes import Kind

#: What a caller may ask for: "auto" is strict for the service's own documents, else standard.
PolicyChoice = Literal["auto", "strict", "standard"]


@dataclass(frozen=True)
class Policy:
    """What one policy permits and requires."""

    name: str  # as reports name it: "strict" or "standard"
    #: The changes after a signature that are permitted outright.
    permitted_changes: frozenset[Kind]
    #: Other changes are judged by what they do (an invisible new field passes, an annotation
    #: fails only over content, what this engine does not recognise is asked of pyhanko's
    #: difference analysis); without this, every other change fails.
    changes_judged_by_effect: bool
    #: A revision after a signature may add only one signature or document timestamp.
    one_signature_per_revision: bool
    #: Structural problems in the bytes a signature covers fail the file (else: warnings).
    refuse_signed_structure_problems: bool
    #: Compare what viewers show only outside annotations (whose additions are judged by what
    #: they cover); without this, only the signature widgets are masked.
    visual_outside_annotations: bool
    #: Run the EU DSS validator's annotation-overlap check on the final document.
    annotation_overlap_check: bool
    #: A document with the service's signature fields must hold the right signers, in order,
    #: each in their own field (and says which are still missing).
    checks_signer_order: bool
    #: A broken signature timestamp fails the signature (else: its time is just not proven).
    broken_timestamp_fails: bool
    #: A signature timestamp from an untrusted authority leaves the signature indeterminate
    #: (else: a warning).
    requires_trusted_timestamp_authority: bool
    #: Every signature needs a timestamp, its own or a later document timestamp (PAdES B-T).
    requires_timestamp: bool


_ALWAYS_PERMITTED = frozenset({Kind.SIGNATURE, Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA,
                               Kind.METADATA, Kind.UNREFERENCED})

STRICT = Policy(
    name="strict",
    permitted_changes=_ALWAYS_PERMITTED,
    changes_judged_by_effect=False,
    one_signature_per_revision=True,
    refuse_signed_structure_problems=True,
    visual_outside_annotations=False,
    annotation_overlap_check=False,
    checks_signer_order=True,
    broken_timestamp_fails=True,
    requires_trusted_timestamp_authority=True,
    requires_timestamp=True,
)

STANDARD = Policy(
    name="standard",
    permitted_changes=_ALWAYS_PERMITTED | {Kind.NEW_SIGNATURE_FIELD, Kind.FORM_FILLING,
                                           Kind.PRIVATE_DATA, Kind.REWRITTEN},
    changes_judged_by_effect=True,
    one_signature_per_revision=False,
    refuse_signed_structure_problems=False,
    visual_outside_annotations=True,
    annotation_overlap_check=True,
    checks_signer_order=False,
    broken_timestamp_fails=False,
    requires_trusted_timestamp_authority=False,
    requires_timestamp=False,
)


def chosen(choice: PolicyChoice, *, service: bool) -> Policy:
    """The policy `choice` stands for, for a file that is (or is not) the service's own."""
    if choice == "strict" or (choice == "auto" and service):
        return STRICT
    return STANDARD


#: Every choice, as the CLI and the upload form offer them.
POLICY_CHOICES: tuple[PolicyChoice, ...] = ("auto", "strict", "standard")


def policy_choice(value: str | None) -> PolicyChoice:
    """`value` as a policy choice; "auto" for anything else (a missing or unknown value)."""
    for choice in POLICY_CHOICES:
        if value == choice:
            return choice
    return "auto"
