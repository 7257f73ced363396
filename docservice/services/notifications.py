"""The e-mails the service sends, in the recipient's language."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from docservice import mail
from docservice.documents.catalogue import TITLES
from docservice.models import DocumentKind, Placement
from docservice.runtime import Runtime

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
