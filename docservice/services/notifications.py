"""The e-mails the service sends, in the recipient's language."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from docservice.documents.catalogue import TITLES
from docservice.jobs.runtime import Runtime
from docservice.mail import delivery as mail
from docservice.models import Document, DocumentKind, Envelope, Placement, SignatureRequest

BRUSSELS = ZoneInfo("Europe/Brussels")

_STUDENT_LINK = {
    "nl": (
        "Je stagedocumenten – {school}",
        "Beste {first_name},\n\n"
        "Je stagedocumenten voor {company} staan klaar:\n{documents}\n\n"
        "Bekijk en download ze via je persoonlijke link (niet doorsturen):\n{url}\n\n"
        "De link werkt tot {expires}. Controleer je gegevens; klopt er iets niet, "
        "laat het dan weten aan {coordinator} ({coordinator_email}).\n\n"
        "Met vriendelijke groeten,\n{school}\n",
    ),
    "en": (
        "Your internship documents – {school}",
        "Dear {first_name},\n\n"
        "Your internship documents for {company} are ready:\n{documents}\n\n"
        "View and download them through your personal link (do not forward it):\n{url}\n\n"
        "The link works until {expires}. Check your data; if anything is wrong, "
        "tell {coordinator} ({coordinator_email}).\n\n"
        "Kind regards,\n{school}\n",
    ),
}


def send_student_link(session: Session, rt: Runtime, placement: Placement, url: str,
                      expires_at: datetime) -> None:
    """E-mail the student their personal link, after the commit that makes it valid."""
    subject, body = _STUDENT_LINK[placement.language]
    year = placement.academic_year
    documents = "\n".join(
        f"- {TITLES[DocumentKind(d.kind)][d.language]} ({d.reference}, SHA-256 "
        f"{d.current_revision.sha256})"
        for d in placement.current_documents()
    ) or "-"
    values = dict(
        school=year.school_name, first_name=placement.student_first_name,
        company=placement.company_name, documents=documents, url=url,
        expires=f"{expires_at:%d/%m/%Y %H:%M} UTC", coordinator=year.coordinator_name,
        coordinator_email=year.coordinator_email,
    )
    mail.queue(session, rt.mail, mail.Message(
        to=placement.student_email, subject=subject.format(**values), body=body.format(**values),
    ))


_ROLE_NAMES = {
    "nl": {"student": "de student", "company": "het stagebedrijf", "school": "de hogeschool"},
    "en": {"student": "the student", "company": "the company", "school": "the school"},
}

_INVITATION = {
    "nl": (
        "Te ondertekenen: stagedocumenten van {student} – {school}",
        "Beste {name},\n\n"
        "{coordinator} ({school}) vraagt je de stagedocumenten van {student} bij {company} "
        "te ondertekenen als {role}:\n{documents}\n\n"
        "Bekijk en onderteken ze via deze persoonlijke link (niet doorsturen):\n{url}\n\n"
        "Onderteken uiterlijk op {deadline}. De link werkt tot {expires}.\n"
        "De volgorde is: student, stagebedrijf, hogeschool.\n\n"
        "Met vriendelijke groeten,\n{coordinator}\n{school}\n",
    ),
    "en": (
        "To sign: internship documents of {student} – {school}",
        "Dear {name},\n\n"
        "{coordinator} ({school}) asks you to sign the internship documents of {student} at "
        "{company} as {role}:\n{documents}\n\n"
        "Review and sign them through this personal link (do not forward it):\n{url}\n\n"
        "Please sign by {deadline}. The link works until {expires}.\n"
        "The order is: student, company, school.\n\n"
        "Kind regards,\n{coordinator}\n{school}\n",
    ),
}

_APPROVAL = (
    "Klaar voor het zegel van de hogeschool: {student}",
    "Student en stagebedrijf hebben de stagedocumenten van {student} bij {company} "
    "ondertekend:\n{documents}\n\n"
    "Keur goed en plaats het zegel van de hogeschool (aanmelden vereist):\n{url}\n\n"
    "Deadline stageovereenkomst: {deadline}.\n",
)

_DECLINED = (
    "Geweigerd: stagedocumenten van {student}",
    "{name} ({role}) heeft geweigerd de stagedocumenten van {student} bij {company} te "
    "ondertekenen.\n\nReden:\n{reason}\n\nDe envelop is gestopt. Bekijk de plaatsing:\n{url}\n",
)

_COMPLETED = {
    "nl": (
        "Ondertekend: stagedocumenten van {student}",
        "Beste {name},\n\nDe stagedocumenten van {student} bij {company} zijn ondertekend door "
        "de student, het stagebedrijf en de hogeschool:\n{documents}\n\n"
        "Met vriendelijke groeten,\n{school}\n",
    ),
    "en": (
        "Signed: internship documents of {student}",
        "Dear {name},\n\nThe internship documents of {student} at {company} are signed by the "
        "student, the company and the school:\n{documents}\n\nKind regards,\n{school}\n",
    ),
}


def _documents_list(documents: list[Document], language: str) -> str:
    return "\n".join(
        f"- {TITLES[DocumentKind(d.kind)][language]} ({d.reference})\n"
        f"  SHA-256 {d.current_revision.sha256}"
        for d in documents
    )


def _envelope_values(request: SignatureRequest) -> dict[str, str]:
    envelope = request.envelope
    placement = envelope.placement
    year = placement.academic_year
    return dict(
        name=request.signer_name, student=placement.student_full_name,
        company=placement.company_name, school=year.school_name,
        coordinator=year.coordinator_name,
        role=_ROLE_NAMES[request.language][request.role],
        documents=_documents_list(envelope.documents, request.language),
        deadline=f"{year.contract_deadline:%d/%m/%Y}",
    )


def send_invitation(session: Session, rt: Runtime, request: SignatureRequest, token: str | None,
                    expires_at: datetime | None) -> None:
    """Invite the signer whose turn it is; the school's turn goes to the coordinator."""
    values = _envelope_values(request)
    placement = request.envelope.placement
    if token is None:
        values["url"] = rt.settings.public_url(f"/coordinator/desk/placements/{placement.id}")
        subject, body = _APPROVAL
    else:
        values["url"] = rt.settings.public_url(f"/sign/{token}")
        values["expires"] = f"{expires_at:%d/%m/%Y %H:%M} UTC" if expires_at else "-"
        subject, body = _INVITATION[request.language]
    mail.queue(session, rt.mail, mail.Message(
        to=request.signer_email, subject=subject.format(**values), body=body.format(**values)))


def send_declined(session: Session, rt: Runtime, request: SignatureRequest) -> None:
    """Tell the coordinator who declined and why."""
    values = _envelope_values(request)
    values.update(reason=request.decline_reason or "-",
                  role=_ROLE_NAMES["nl"][request.role],
                  url=rt.settings.public_url(
                      f"/coordinator/desk/placements/{request.envelope.placement_id}"))
    year = request.envelope.placement.academic_year
    subject, body = _DECLINED
    mail.queue(session, rt.mail, mail.Message(
        to=year.coordinator_email, subject=subject.format(**values),
        body=body.format(**values)))


def send_completed(session: Session, rt: Runtime, envelope: Envelope) -> None:
    """Tell every signer that all three have signed."""
    for request in envelope.requests:
        values = _envelope_values(request)
        subject, body = _COMPLETED[request.language]
        mail.queue(session, rt.mail, mail.Message(
            to=request.signer_email, subject=subject.format(**values),
            body=body.format(**values)))


_COPIES = {
    "nl": (
        "Je exemplaar: ondertekende stagedocumenten van {student} – {school}",
        "Beste {name},\n\n"
        "De stagedocumenten van {student} bij {company} zijn volledig ondertekend door de "
        "student, het stagebedrijf en de hogeschool, en gearchiveerd. Elke partij krijgt een "
        "exemplaar:\n{documents}\n\n"
        "Download de ondertekende PDF's (PAdES B-LTA, zoals ze gearchiveerd zijn) en hun "
        "verificatierapport via deze persoonlijke link (niet doorsturen):\n{url}\n\n"
        "De link werkt tot {expires}. Bewaar de bestanden zelf: zo heb je ze ook later.\n\n"
        "Met vriendelijke groeten,\n{school}\n",
    ),
    "en": (
        "Your copy: signed internship documents of {student} – {school}",
        "Dear {name},\n\n"
        "The internship documents of {student} at {company} are signed by the student, the "
        "company and the school, and archived. Each party receives a copy:\n{documents}\n\n"
        "Download the signed PDFs (PAdES B-LTA, as archived) and their verification report "
        "through this personal link (do not forward it):\n{url}\n\n"
        "The link works until {expires}. Keep the files yourself, so that you have them "
        "later too.\n\n"
        "Kind regards,\n{school}\n",
    ),
}


def send_copies(session: Session, rt: Runtime, request: SignatureRequest, *, url: str,
                expires_at: datetime, copies: list[Any]) -> None:
    """Give one party the link to their copies of the archived documents."""
    values = _envelope_values(request)
    values.update(url=url, expires=brussels_time(expires_at), documents="\n".join(
        f"- {c.title} ({c.reference})\n  SHA-256 {c.sha256}" for c in copies) or "-")
    subject, body = _COPIES[request.language if request.language in _COPIES else "nl"]
    mail.queue(session, rt.mail, mail.Message(
        to=request.signer_email, subject=subject.format(**values), body=body.format(**values)))


def brussels_time(when: datetime) -> str:
    """06/12/2026 14:05 CET: a moment as a Belgian reads it, with the zone."""
    return f"{when.astimezone(BRUSSELS):%d/%m/%Y %H:%M %Z}"


_CONFIRMATION_NEEDED = (
    "Te bevestigen: handtekening met eigen certificaat voor {student}",
    "De {role} ondertekende de stagedocumenten van {student} bij {company} met een eigen "
    "certificaat op naam van {found}, terwijl {name} verwacht werd.\n\n"
    "Bevestig of weiger de handtekening (aanmelden vereist):\n{url}\n",
)


def send_confirmation_needed(session: Session, rt: Runtime, request: SignatureRequest,
                             found: list[str]) -> None:
    """Ask the coordinator to confirm a signature made by someone else than expected."""
    values = _envelope_values(request)
    values.update(found=", ".join(found) or "?", role=_ROLE_NAMES["nl"][request.role],
                  url=rt.settings.public_url(
                      f"/coordinator/desk/placements/{request.envelope.placement_id}"))
    year = request.envelope.placement.academic_year
    subject, body = _CONFIRMATION_NEEDED
    mail.queue(session, rt.mail, mail.Message(
        to=year.coordinator_email, subject=subject.format(**values), body=body.format(**values)))


# --- the coordinator's desk (issue 5): reminders and escalations ------------------------------

_REMINDER = {
    "nl": (
        "Herinnering: stagedocumenten van {student} ondertekenen – {school}",
        "Beste {name},\n\n"
        "De stagedocumenten van {student} bij {company} wachten nog op je handtekening als "
        "{role}:\n{documents}\n\n{dates}\n\n"
        "Onderteken ze via deze persoonlijke link (niet doorsturen):\n{url}\n\n"
        "Deze link vervangt die uit eerdere e-mails; hij werkt tot {expires}.\n\n"
        "Met vriendelijke groeten,\n{coordinator}\n{school}\n",
    ),
    "en": (
        "Reminder: please sign the internship documents of {student} – {school}",
        "Dear {name},\n\n"
        "The internship documents of {student} at {company} still wait for your signature as "
        "{role}:\n{documents}\n\n{dates}\n\n"
        "Sign them through this personal link (do not forward it):\n{url}\n\n"
        "This link replaces the one in earlier e-mails; it works until {expires}.\n\n"
        "Kind regards,\n{coordinator}\n{school}\n",
    ),
}

_APPROVAL_REMINDER = (
    "Herinnering: zegel van de hogeschool nodig voor {student}",
    "Student en stagebedrijf hebben de stagedocumenten van {student} bij {company} "
    "ondertekend; ze wachten op de goedkeuring van de hogeschool:\n{documents}\n\n{dates}\n\n"
    "Keur goed en plaats het zegel (aanmelden vereist):\n{url}\n",
)

_DUE_LINES = {
    "nl": {"contract_deadline": "Deadline voor de ondertekende stageovereenkomst: {date} "
                                "(nog {days} dag(en)).",
           "start_date": "De stage begint op {date} (nog {days} dag(en)); zonder volledig "
                         "ondertekende overeenkomst mag de student niet starten."},
    "en": {"contract_deadline": "Deadline for the signed internship agreement: {date} "
                                "({days} day(s) left).",
           "start_date": "The internship starts on {date} ({days} day(s) left); without a fully "
                         "signed agreement the student may not start."},
}


def send_reminder(session: Session, rt: Runtime, request: SignatureRequest, *, url: str,
                  expires_at: datetime | None, due: list[tuple[str, object, int]]) -> None:
    """Remind the signer whose turn it is; the school's turn goes to the coordinator."""
    values = _envelope_values(request)
    language = "nl" if request.role == "school" else request.language
    values["dates"] = "\n".join(
        _DUE_LINES[language][anchor].format(date=f"{when:%d/%m/%Y}", days=days)
        for anchor, when, days in due) or ""
    values["url"] = url
    values["expires"] = f"{expires_at:%d/%m/%Y %H:%M} UTC" if expires_at else "-"
    subject, body = _APPROVAL_REMINDER if request.role == "school" else _REMINDER[language]
    mail.queue(session, rt.mail, mail.Message(
        to=request.signer_email, subject=subject.format(**values),
        body=single_blank_lines(body.format(**values))))


def single_blank_lines(body: str) -> str:
    """`body` with at most one blank line between paragraphs (an empty part leaves none)."""
    return re.sub(r"\n[ \t]*(?:\n[ \t]*){2,}", "\n\n", body)


_STAGE_NAMES = {"draft": "nog geen envelop", "waiting_student": "wacht op de student",
                "waiting_company": "wacht op het stagebedrijf",
                "waiting_school": "wacht op de hogeschool", "declined": "geweigerd",
                "complete": "volledig ondertekend"}


def send_escalation(session: Session, rt: Runtime, *, to: str, at_risk: list[dict[str, object]],
                    not_cleared: list[dict[str, object]]) -> None:
    """One digest for a coordinator or docent: placements at risk, and not cleared to start."""

    def line(item: dict[str, object]) -> str:
        url = rt.settings.public_url(f"/coordinator/desk/placements/{item['placement_id']}")
        return (f"- {item['student']} ({item['student_number']}), {item['company']}: start "
                f"{item['start_date']:%d/%m/%Y} ({item['days_to_start']} dag(en)), "
                f"{_STAGE_NAMES.get(str(item['stage']), item['stage'])}; docent {item['docent']}\n"
                f"  {url}")

    parts = []
    if not_cleared:
        parts.append("Mogen NIET starten – de stageovereenkomst is niet volledig ondertekend "
                     "en de startdatum is bereikt:\n" + "\n".join(line(i) for i in not_cleared))
    if at_risk:
        parts.append("In gevaar – de stage begint binnenkort en de stageovereenkomst is nog "
                     "niet volledig ondertekend:\n" + "\n".join(line(i) for i in at_risk))
    count = len(at_risk) + len(not_cleared)
    subject = (f"Mogen niet starten: {len(not_cleared)} stage(s)" if not_cleared
               else f"Stageovereenkomsten in gevaar: {count}")
    body = ("Beste,\n\n" + "\n\n".join(parts)
            + "\n\nVolg ze op in het overzicht van de stagecoördinator.\n")
    mail.queue(session, rt.mail, mail.Message(to=to, subject=subject, body=body))


def send_approval_reminder(session: Session, rt: Runtime, *, to: str,
                           items: list[dict[str, object]]) -> None:
    """One list for the coordinator: every envelope that waits for the school's seal."""
    lines = []
    for item in items:
        due = item["due"]
        dates = "; ".join(
            f"{'deadline' if anchor == 'contract_deadline' else 'start'} {when:%d/%m/%Y} "
            f"(nog {days} dag(en))" for anchor, when, days in due)  # type: ignore[attr-defined]
        lines.append(f"- {item['student']} ({item['student_number']}), {item['company']}: "
                     f"{dates}\n  {item['url']}")
    subject = f"Herinnering: {len(items)} stageovereenkomst(en) wachten op het zegel"
    body = ("Student en stagebedrijf hebben ondertekend; deze stageovereenkomsten wachten op de "
            "goedkeuring van de hogeschool (aanmelden vereist):\n\n" + "\n".join(lines) + "\n")
    mail.queue(session, rt.mail, mail.Message(to=to, subject=subject, body=body))
