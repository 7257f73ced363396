"""The coordinator's desk: what a placement's status is made of, and how the dashboard orders it.

A placement's *stage* says how far signing got: draft (no envelope), waiting for the student,
the company or the school, complete, or declined. "Signed" there is what verifying the stored
PDFs says (`desk_verification`), not only the signature_requests table; where the two disagree
the status carries the disagreement so the desk can say so loudly. While a PDF has no verdict
yet, the table's word is used and the document counts as not verified.

Its *state* adds the calendar, for placements that are not complete:
not cleared to start (start date reached) > at risk (start date within the warning window) >
overdue (past the contract deadline) > the stage.

The statuses are computed from the database in `desk_status`; the per-document lines of the
rows on screen in `desk_details`.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from docservice.services.text import fold


class State(str, enum.Enum):
    """Where a placement stands, as the coordinator reads it."""

    DRAFT = "draft"
    WAITING_STUDENT = "waiting_student"
    WAITING_COMPANY = "waiting_company"
    WAITING_SCHOOL = "waiting_school"
    COMPLETE = "complete"
    DECLINED = "declined"
    OVERDUE = "overdue"
    AT_RISK = "at_risk"
    NOT_CLEARED = "not_cleared"


STAGES = (State.DRAFT, State.WAITING_STUDENT, State.WAITING_COMPANY, State.WAITING_SCHOOL,
          State.COMPLETE, State.DECLINED)
WAITING = {"student": State.WAITING_STUDENT, "company": State.WAITING_COMPANY,
           "school": State.WAITING_SCHOOL}


@dataclass(frozen=True)
class Disagreement:
    """The table and the PDF say different things about one signer."""

    role: str
    table_signed: bool
    pdf_signed: bool


@dataclass(frozen=True)
class RoleStatus:
    """One signer of a placement's envelope: what the table says, what the PDFs say."""

    role: str
    table_signed: bool
    table_signed_at: datetime | None
    pdf_signed: bool | None  # None: not every document has been verified yet
    status: str | None  # the request's status in the table (waiting, pending, signed, ...)

    @property
    def signed(self) -> bool:
        """What the desk shows: the PDFs' word once verified, the table's until then."""
        return self.pdf_signed if self.pdf_signed is not None else self.table_signed


@dataclass(frozen=True)
class PlacementStatus:
    """Everything the dashboard shows for one placement, computed at one moment."""

    placement_id: int
    year_code: str
    student_number: str
    first_name: str
    last_name: str
    student_email: str
    company_name: str
    docent_name: str
    docent_email: str
    start_date: date
    end_date: date
    contract_deadline: date
    coordinator_email: str
    language: str
    envelope_id: int | None
    envelope_status: str | None
    decline_reason: str | None
    stage: State
    state: State
    next_role: str | None
    next_email: str | None
    next_name: str | None
    roles: tuple[RoleStatus, ...]
    documents_total: int
    documents_required: int
    documents_verified: int
    documents_changed: int  # stored PDFs that no longer hash to their name
    days_to_deadline: int
    days_to_start: int
    disagreements: tuple[Disagreement, ...]

    @property
    def student_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def complete(self) -> bool:
        return self.stage == State.COMPLETE

    @property
    def verified(self) -> bool:
        """Every current document has a verdict (or was found changed)."""
        return self.documents_total > 0 and self.documents_verified == self.documents_total

    @property
    def loud(self) -> bool:
        """Table and PDF disagree, or a stored PDF changed: the row must say so loudly."""
        return bool(self.disagreements) or self.documents_changed > 0

    @property
    def days_left(self) -> int | None:
        """Days to the next date that matters while incomplete: the deadline, then the start."""
        if self.complete:
            return None
        return self.days_to_deadline if self.days_to_deadline >= 0 else self.days_to_start

    def role(self, role: str) -> RoleStatus:
        return next(r for r in self.roles if r.role == role)

    @functools.cached_property
    def search_text(self) -> str:
        """Name and student number, folded (no case, no accents) for the search box."""
        return fold(f"{self.first_name} {self.last_name} {self.student_number}")

    @functools.cached_property
    def company_key(self) -> str:
        """The company's name, folded, for the company filter."""
        return fold(self.company_name)

    def matches(self, state: str) -> bool:
        """Whether a filter on `state` shows this placement (its state, or its stage)."""
        return state in (self.state.value, self.stage.value)


@dataclass(frozen=True)
class DeskFilter:
    """What the coordinator asked to see."""

    year: str | None = None
    state: str | None = None
    company: str | None = None
    docent: str | None = None
    query: str | None = None
    sort: str = "days"  # days, -days, start, name, state
    placement_ids: tuple[int, ...] | None = None


SORTS = ("days", "-days", "start", "name", "state")


def placement_state(stage: State, *, today: date, start: date, deadline: date,
                    risk_window_days: int) -> State:
    """The stage, or what the calendar makes of it when incomplete."""
    if stage == State.COMPLETE:
        return stage
    if today >= start:
        return State.NOT_CLEARED
    if (start - today).days <= risk_window_days:
        return State.AT_RISK
    if today > deadline:
        return State.OVERDUE
    return stage


_STATE_ORDER = {s: i for i, s in enumerate(
    (State.NOT_CLEARED, State.AT_RISK, State.OVERDUE, State.DECLINED, State.DRAFT,
     State.WAITING_STUDENT, State.WAITING_COMPANY, State.WAITING_SCHOOL, State.COMPLETE))}


def sort_statuses(statuses: list[PlacementStatus], sort: str) -> list[PlacementStatus]:
    """Sorted for the dashboard: by days left (complete last), start date, name or state."""
    def name(s: PlacementStatus) -> tuple[str, str, str]:
        return (s.last_name.casefold(), s.first_name.casefold(), s.student_number)

    if sort == "name":
        return sorted(statuses, key=name)
    if sort == "start":
        return sorted(statuses, key=lambda s: (s.start_date, name(s)))
    if sort == "state":
        return sorted(statuses, key=lambda s: (_STATE_ORDER[s.state], name(s)))
    big = 10**6
    if sort == "-days":
        return sorted(statuses, key=lambda s: (-(s.days_left if s.days_left is not None
                                                 else -big), name(s)))
    return sorted(statuses, key=lambda s: (s.days_left if s.days_left is not None else big,
                                           name(s)))


def count_states(statuses: Sequence[PlacementStatus]) -> dict[str, int]:
    """How many placements are in each state (the dashboard's summary line)."""
    counts = {s.value: 0 for s in State}
    for status in statuses:
        counts[status.state.value] += 1
    return counts
