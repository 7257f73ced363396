"""The student's personal link: their documents, and nobody else's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template

from docservice.archive import audit
from docservice.documents.catalogue import TITLES
from docservice.models import AccessLink, DocumentKind
from docservice.services import copies, links
from docservice.services import documents as documents_service
from docservice.services.archive_search import ArchiveDamaged
from docservice.web import copies as copies_pages
from docservice.web import db_session, i18n, request_actor, runtime
from docservice.web.coordinator import _document_response

bp = Blueprint("student", __name__, url_prefix="/s")
bp.register_error_handler(ArchiveDamaged, copies_pages.damaged)


def _link(token: str) -> AccessLink:
    return links.resolve_link(db_session(), token, purpose=links.STUDENT,
                              now=datetime.now(UTC))


@bp.get("/<token>")
def home(token: str) -> Any:
    link = _link(token)
    links.record_opened(db_session(), link, request_actor("student"))
    placement = link.placement
    i18n.use_language(placement.language)
    documents = [(d, TITLES[DocumentKind(d.kind)][d.language]) for d in placement.current_documents()]
    envelope = placement.envelope
    return render_template("student/home.html", token=token, placement=placement,
                           documents=documents, link=link,
                           pending=[TITLES[k][placement.language] for k in placement.missing_kinds()],
                           completed=envelope is not None and envelope.status == "completed",
                           copies=copies.copies_of(db_session(), envelope, placement.language)
                           if envelope is not None else None)


@bp.get("/<token>/copies/<name>")
def copy(token: str, name: str) -> Response:
    """The archived (B-LTA) PDF of a fully signed document, or its verification report."""
    sha256, _, which = name.partition(".")  # 64 hex digits, then what: pdf, report.pdf, ...
    link = _link(token)
    data, media_type, filename = copies.read_archived(
        db_session(), link.placement.envelope, sha256, which,
        actor=request_actor("student"), role="student", store=runtime().archive_store)
    disposition = "inline" if which.endswith(("html", "pdf")) else "attachment"
    return Response(data, mimetype=media_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})


@bp.get("/<token>/documents/<int:document_id>.<fmt>")
def download(token: str, document_id: int, fmt: str) -> Response:
    link = _link(token)
    document = documents_service.document_of_placement(db_session(), link.placement_id, document_id)
    response = _document_response(document, fmt)
    audit.record(db_session(), "document.downloaded", request_actor("student"),
                 placement_id=link.placement_id, document=document.reference, format=fmt)
    return response
