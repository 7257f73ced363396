"""Correct a placement's data: the import's checks, every change in the trail, documents made again.

One path for the placement page's edit form and `placements import --update`. Unsigned
documents are made again with the new data; where a signature exists, the documents can only be
replaced with the envelope (cancel and regenerate), and only once the coordinator confirmed
exactly which signatures that costs (`ConfirmationRequired`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.archive.blobs import FilesystemBlobStore
from docservice.config import Settings
from docservice.documents.generate import PdfConverter
from docservice.errors import (
    N_,
    ConfirmationRequired,
    EnvelopeConflict,
    ImportRejected,
    Reason,
    RowError,
)
from docservice.mail.delivery import Sender
from docservice.models import AcademicYear, Envelope, EnvelopeStatus, Placement, RequestStatus
from docservice.services import desk_actions, own_signatures
from docservice.services import placements as placements_service


@dataclass(frozen=True)
class LostSignature:
    """A signature (or an upload awaiting the coordinator) that replacing the envelope voids."""

    role: str
    name: str
    at: datetime | None
    key: str  # stable identity: what a confirmation names
    awaiting_decision: bool = False

    def __str__(self) -> str:
        return f"{self.role}: {self.name}"


@dataclass(frozen=True)
class EditPlan:
    """What saving would change, and which signatures that would cost."""

    placement: Placement
    changes: dict[str, tuple[Any, Any]]
    lost: list[LostSignature] = field(default_factory=list)

    @property
    def token(self) -> str:
        return confirmation_token(self.lost)


@dataclass(frozen=True)
class EditOutcome:
    """What saving did: the changed columns, and what happened to the documents."""

    changes: dict[str, tuple[Any, Any]]
    documents: str  # "none" (nothing generated yet), "regenerated", "envelope_reopened",
    #                 "envelope_cancelled" (regenerated; open the new envelope when ready)


def signatures_at_stake(session: Session, placement: Placement) -> list[LostSignature]:
    """The signatures on the documents in force (and uploads awaiting a decision) that
    replacing them would void, in signing order."""
    envelope = placement.envelope
    if envelope is None or envelope.status == EnvelopeStatus.COMPLETED.value:
        return []
    lost = [LostSignature(r.role, r.signed_name or r.signer_name, r.signed_at, f"r{r.id}")
            for r in envelope.requests if r.status == RequestStatus.SIGNED.value]
    lost += [LostSignature(u.role, u.signer_name, u.uploaded_at, f"u{u.upload_id}",
                           awaiting_decision=True)
             for u in own_signatures.waiting_uploads(session, envelope)]
    return lost


def confirmation_token(lost: list[LostSignature]) -> str:
    """Names exactly these signatures: a confirmation given for fewer is not one for more."""
    if not lost:
        return ""
    return hashlib.sha256(",".join(sorted(s.key for s in lost)).encode()).hexdigest()[:32]


def _refuse_signed_agreement(placement: Placement) -> None:
    envelope = placement.envelope
    if envelope is not None and envelope.status == EnvelopeStatus.COMPLETED.value:
        raise EnvelopeConflict(Reason(
            N_("%(name)s: de overeenkomst is door iedereen ondertekend; een ondertekende "
               "overeenkomst wordt niet gewijzigd (maak een nieuwe overeenkomst voor gewijzigde "
               "voorwaarden)"), name=placement.student_full_name))


def plan_edit(session: Session, placement: Placement, form: Mapping[str, str]) -> EditPlan:
    """Check the edit form's values as the CSV import checks a row (ImportRejected naming the
    fields), and say what saving would change."""
    _refuse_signed_agreement(placement)
    row = placements_service.parse_form(placement, form)
    if row["student_number"] != placement.student_number:
        other = session.scalars(select(Placement.id).where(
            Placement.academic_year_id == placement.academic_year_id,
            Placement.student_number == row["student_number"], Placement.id != placement.id,
        )).first()
        if other is not None:
            raise ImportRejected([RowError(0, "student_number", placements_service.already_placed(
                row["student_number"], placement.academic_year.code))])
    changes = placements_service.changes_between(placement, row)
    return EditPlan(placement, changes, signatures_at_stake(session, placement) if changes else [])


def apply_edit(session: Session, plan: EditPlan, *, confirmed: str | None, now: datetime,
               actor: audit.Actor, source: str, converter: PdfConverter,
               blobs: FilesystemBlobStore, mailer: Sender, settings: Settings) -> EditOutcome:
    """Store the changes (each in the trail, old -> new) and make the documents again.

    No envelope: the current documents are superseded and made again. An open or declined
    envelope is cancelled (kept) and the documents made again; an open one is opened anew (the
    student is invited again), a declined one is left for the coordinator to open. Raises
    ConfirmationRequired unless `confirmed` is the token of the signatures this voids.
    """
    placement = plan.placement
    if not plan.changes:
        return EditOutcome({}, "none")
    _refuse_signed_agreement(placement)
    if plan.lost and confirmed != plan.token:
        raise ConfirmationRequired(plan.lost, plan.token)
    envelope: Envelope | None = placement.envelope
    placements_service.apply_changes(session, placement, plan.changes, actor=actor,
                                     source=source)
    changed = ", ".join(plan.changes)
    if envelope is not None:
        was_open = envelope.status == EnvelopeStatus.OPEN.value
        desk_actions.cancel_and_regenerate(
            session, placement, reason=f"placement data corrected ({changed})",
            now=now, actor=actor, reopen=was_open, converter=converter, blobs=blobs,
            mailer=mailer, settings=settings)
        return EditOutcome(plan.changes,
                           "envelope_reopened" if was_open else "envelope_cancelled")
    if not placement.current_documents():
        return EditOutcome(plan.changes, "none")
    superseded = desk_actions.remake_documents(session, placement, now=now, actor=actor,
                                            converter=converter, blobs=blobs, settings=settings)
    audit.record(session, "documents.regenerated", actor, placement_id=placement.id,
                 superseded=superseded, reason=f"placement data corrected ({changed})")
    return EditOutcome(plan.changes, "regenerated")


def replace_envelope(session: Session, placement: Placement, *, reason: str,
                     confirmed: str | None, now: datetime, actor: audit.Actor,
                     converter: PdfConverter, blobs: FilesystemBlobStore, mailer: Sender,
                     settings: Settings) -> Envelope | None:
    """Cancel and regenerate, once the signatures it voids were confirmed (see apply_edit)."""
    reason = desk_actions.clean_reason(reason)
    lost = signatures_at_stake(session, placement)
    if lost and confirmed != confirmation_token(lost):
        raise ConfirmationRequired(lost, confirmation_token(lost))
    return desk_actions.cancel_and_regenerate(session, placement, reason=reason, now=now,
                                           actor=actor, converter=converter, blobs=blobs,
                                           mailer=mailer, settings=settings)


@dataclass(frozen=True)
class UpdateLine:
    """One row of `import --update`: its placement and what changed."""

    line: int
    student_number: str
    year: str
    outcome: EditOutcome


def update_placements(session: Session, data: bytes, *, now: datetime, actor: audit.Actor,
                      converter: PdfConverter, blobs: FilesystemBlobStore, mailer: Sender,
                      settings: Settings) -> list[UpdateLine]:
    """Correct existing placements from a CSV in the import's columns: every row or none.

    Rows are matched by (academic year, student number); a row without a placement, or one
    that would void signatures (confirm those on the placement's page) or change a signed
    agreement, refuses the whole file. Unchanged rows change nothing.
    """
    plans: list[tuple[int, EditPlan]] = []

    def check(rows: list[tuple[int, dict[str, Any]]]) -> list[RowError]:
        errors: list[RowError] = []
        for line, row in rows:
            error = _plan_row(session, line, row, plans)
            if error is not None:
                errors.append(error)
        return errors

    placements_service.read_rows(session, data, check=check)
    return [UpdateLine(line, plan.placement.student_number, plan.placement.academic_year.code,
                       apply_edit(session, plan, confirmed=None, now=now, actor=actor,
                                  source="import --update", converter=converter, blobs=blobs,
                                  mailer=mailer, settings=settings))
            for line, plan in plans]


def _plan_row(session: Session, line: int, row: dict[str, Any],
              plans: list[tuple[int, EditPlan]]) -> RowError | None:
    """Why this row cannot update its placement, or None (and its plan appended to `plans`)."""
    year: AcademicYear = row["academic_year"]
    placement = session.scalars(select(Placement).where(
        Placement.academic_year_id == year.id,
        Placement.student_number == row["student_number"])).first()
    if placement is None:
        return RowError(line, "student_number", Reason(
            N_("%(number)s heeft geen plaatsing in %(year)s om bij te werken (importeer nieuwe "
               "plaatsingen zonder --update)"), number=row["student_number"], year=year.code))
    changes = placements_service.changes_between(placement, row)
    if changes:
        try:
            _refuse_signed_agreement(placement)
        except EnvelopeConflict as e:
            return RowError(line, "-", e.reason)
        lost = signatures_at_stake(session, placement)
        if lost:
            return RowError(line, "-", Reason(
                N_("%(fields)s wijzigen maakt handtekeningen ongeldig (%(lost)s): verbeter deze "
                   "plaatsing op haar pagina, die eerst om bevestiging vraagt"),
                fields=", ".join(changes), lost="; ".join(map(str, lost))))
    plans.append((line, EditPlan(placement, changes)))
    return None
