"""A party's copy of the signed documents: the archived PDFs and their verification reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template

from docservice.services import archive, copies
from docservice.web import db_session, i18n, request_actor, runtime

bp = Blueprint("copies", __name__, url_prefix="/copies")


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/<token>")
def home(token: str) -> Any:
    link, request, found = copies.resolve_copy_link(db_session(), token, now=_now())
    envelope = request.envelope
    return render_template("copies/home.html", token=token, link=link, req=request,
                           placement=envelope.placement, envelope=envelope, copies=found,
                           lang=request.language, t=i18n.translator(request.language))


@bp.get("/<token>/<name>")
def download(token: str, name: str) -> Response:
    sha256, _, which = name.partition(".")  # 64 hex digits, then what: pdf, report.pdf, ...
    actor = request_actor("copy")  # the trail entry names the party's role
    data, media_type, filename = copies.read_copy(db_session(), runtime(), token, sha256, which,
                                              now=_now(), actor=actor)
    disposition = "inline" if which.endswith(("html", "pdf")) else "attachment"
    return Response(data, mimetype=media_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})


@bp.post("/resend/<token>")
def resend(token: str) -> Any:
    """From a used signing link or an old copy link: mail a new copy link to the known address."""
    request, earlier = copies.resend_copy_link(db_session(), runtime(), token, now=_now(),
                                               actor=request_actor("anonymous"))
    return render_template("copies/resent.html", req=request, lang=request.language,
                           earlier=i18n.be_moment(earlier) if earlier else None,
                           t=i18n.translator(request.language))


@bp.errorhandler(archive.ArchiveDamaged)
def damaged(e: archive.ArchiveDamaged) -> Any:
    """A copy that fails its integrity check is never served; the failure is recorded."""
    archive.record_damage(db_session(), e, actor=request_actor("copy"))
    return render_template(
        "error.html", status=409, title="Integrity check failed",
        message="This archived file does not match its SHA-256; nothing was served. The "
                "internship office has been told through the audit trail."), 409
