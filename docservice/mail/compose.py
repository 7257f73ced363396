"""The e-mails the service sends, composed from text templates per language.

Each message is a Jinja2 template under `mail/templates/<language>/<kind>.txt`: its first line
is the subject, then one blank line, then the body. The callers (services) gather the facts;
nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import jinja2

from docservice.domain import BRUSSELS, LANGUAGES

#: A date a reminder is about: (anchor, date, days left); anchor is contract_deadline or
#: start_date.
DueDate = tuple[str, date, int]

#: How a signer's part is named in the text, by language.
ROLE_NAMES = {
    "nl": {"student": "de student", "company": "het stagebedrijf", "school": "de hogeschool"},
    "en": {"student": "the student", "company": "the company", "school": "the school"},
}


@dataclass(frozen=True)
class Composed:
    """A message's subject and plain-text body."""

    subject: str
    body: str


@dataclass(frozen=True)
class DocumentRef:
    """One document as a message lists it."""

    title: str
    reference: str
    sha256: str


@dataclass(frozen=True)
class EnvelopeFacts:
    """What a message about one signer's part in an envelope says (in `language`)."""

    language: str
    role: str  # student, company, school
    name: str  # the signer's
    student: str
    company: str
    school: str
    coordinator: str
    deadline: date  # the contract deadline
    documents: tuple[DocumentRef, ...]


@dataclass(frozen=True)
class PlacementAtRisk:
    """One line of an escalation digest."""

    student: str
    student_number: str
    company: str
    start_date: date
    days_to_start: int
    stage: str  # desk.State value
    docent: str
    url: str


@dataclass(frozen=True)
class WaitingApproval:
    """One line of the coordinator's list of envelopes waiting for the school's seal."""

    student: str
    student_number: str
    company: str
    due: tuple[DueDate, ...]
    url: str


def _day(when: date) -> str:
    return f"{when:%d/%m/%Y}"


def _utc_minute(when: datetime | None) -> str:
    return f"{when:%d/%m/%Y %H:%M} UTC" if when else "-"


def brussels_time(when: datetime) -> str:
    """06/12/2026 14:05 CET: a moment as a Belgian reads it, with the zone."""
    return f"{when.astimezone(BRUSSELS):%d/%m/%Y %H:%M %Z}"


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # plain text; HTML never goes through these templates
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_ENVIRONMENT.filters.update(day=_day, utc_minute=_utc_minute, brussels_minute=brussels_time)


def render(kind: str, language: str, values: Mapping[str, object]) -> Composed:
    """The message `kind` in `language` with `values`: first line the subject, then the body."""
    text = _ENVIRONMENT.get_template(f"{language}/{kind}.txt").render(values)
    subject, _, body = text.partition("\n")
    if not body.startswith("\n"):
        raise ValueError(f"mail template {language}/{kind}.txt: no blank line after the subject")
    return Composed(subject, body[1:])


def _envelope_values(facts: EnvelopeFacts, *, role_language: str | None = None
                     ) -> dict[str, object]:
    return dict(name=facts.name, student=facts.student, company=facts.company,
                school=facts.school, coordinator=facts.coordinator,
                role=ROLE_NAMES[role_language or facts.language][facts.role],
                documents=facts.documents, deadline=facts.deadline,
                # Dutch mail says "u" to the company and the school, "je" to the student.
                formal=facts.role != "student")


def student_link(language: str, *, first_name: str, company: str, school: str,
                 documents: Sequence[DocumentRef], url: str, expires_at: datetime,
                 coordinator: str, coordinator_email: str) -> Composed:
    """The student's personal link to their documents."""
    return render("student_link", language, dict(
        first_name=first_name, company=company, school=school, documents=documents, url=url,
        expires=expires_at, coordinator=coordinator, coordinator_email=coordinator_email))


def invitation(facts: EnvelopeFacts, *, url: str, expires_at: datetime | None) -> Composed:
    """A student's or company's turn to sign, with their signing link."""
    return render("invitation", facts.language,
                  _envelope_values(facts) | dict(url=url, expires=expires_at))


def approval(facts: EnvelopeFacts, *, url: str) -> Composed:
    """The school's turn: the coordinator approves and seals (in Dutch)."""
    return render("approval", "nl", _envelope_values(facts) | dict(url=url))


def declined(facts: EnvelopeFacts, *, reason: str, url: str) -> Composed:
    """To the coordinator (in Dutch): who declined, and why."""
    return render("declined", "nl", _envelope_values(facts, role_language="nl")
                  | dict(reason=reason, url=url))


def completed(facts: EnvelopeFacts) -> Composed:
    """To one signer: all three have signed."""
    return render("completed", facts.language, _envelope_values(facts))


def copies(facts: EnvelopeFacts, *, url: str, expires_at: datetime,
           documents: Sequence[DocumentRef]) -> Composed:
    """To one party: the link to their copies of the archived documents."""
    language = facts.language if facts.language in LANGUAGES else "nl"
    return render("copies", language, _envelope_values(facts)
                  | dict(url=url, expires=expires_at, documents=documents))


def confirmation_needed(facts: EnvelopeFacts, *, found: Sequence[str], url: str) -> Composed:
    """To the coordinator (in Dutch): someone else than expected signed with their own
    certificate."""
    return render("confirmation_needed", "nl", _envelope_values(facts, role_language="nl")
                  | dict(found=found, url=url))


def reminder(facts: EnvelopeFacts, *, url: str, expires_at: datetime | None,
             due: Sequence[DueDate]) -> Composed:
    """Remind the signer whose turn it is; the school's turn goes to the coordinator (Dutch)."""
    values = _envelope_values(facts) | dict(dates=due, url=url, expires=expires_at)
    if facts.role == "school":
        message = render("approval_reminder", "nl", values)
    else:
        message = render("reminder", facts.language, values)
    return Composed(message.subject, single_blank_lines(message.body))


def single_blank_lines(body: str) -> str:
    """`body` with at most one blank line between paragraphs (an empty part leaves none)."""
    return re.sub(r"\n[ \t]*(?:\n[ \t]*){2,}", "\n\n", body)


def escalation(*, at_risk: Sequence[PlacementAtRisk],
               not_cleared: Sequence[PlacementAtRisk]) -> Composed:
    """One digest for a coordinator or docent (in Dutch): placements at risk, not cleared."""
    return render("escalation", "nl", dict(at_risk=at_risk, not_cleared=not_cleared))


def approvals_waiting(items: Sequence[WaitingApproval]) -> Composed:
    """One list for the coordinator (in Dutch): every envelope waiting for the school's seal."""
    return render("approvals_waiting", "nl", dict(items=items))
