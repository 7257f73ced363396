"""A party's copy of the signed documents: the archived PDFs and their verification reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _

from docservice.services import archive_search, copies
from docservice.web import db_session, i18n, request_actor, runtime

bp = Blueprint("copies", __name__, url_prefix="/copies")


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/<token>")
def home(token: str) -> Any:
    link, request, found = copies.resolve_copy_link(db_session(), token, now=_now())
    envelope = request.envelope
    i18n.use_language(request.language)
    return render_template("copies/home.html", token=token, link=link, req=request,
                           placement=envelope.placement, envelope=envelope, copies=found)


@bp.get("/<token>/<name>")
def download(token: str, name: str) -> Response:
    sha256, _, which = name.partition(".")  # 64 hex digits, then what: pdf, report.pdf, ...
    actor = request_actor("copy")  # the trail entry names the party's role
    data, media_type, filename = copies.read_copy(db_session(), token, sha256, which,
                                                  now=_now(), actor=actor,
                                                  store=runtime().archive_store)
    disposition = "inline" if which.endswith(("html", "pdf")) else "attachment"
    return Response(data, mimetype=media_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})


@bp.post("/resend/<token>")
def resend(token: str) -> Any:
    """From a used signing link or an old copy link: mail a new copy link to the known address."""
    request, earlier = copies.resend_copy_link(db_session(), token, now=_now(),
                                               actor=request_actor("anonymous"),
                                               mailer=runtime().mail,
                                               settings=runtime().settings)
    i18n.use_language(request.language)
    return render_template("copies/resent.html", req=request,
                           earlier=i18n.format_moment(earlier) if earlier else None)


@bp.errorhandler(archive_search.ArchiveDamaged)
def damaged(e: archive_search.ArchiveDamaged) -> Any:
    """A copy that fails its integrity check is never served; the failure is recorded."""
    archive_search.record_damage(db_session(), e, actor=request_actor("copy"))
    return render_template(
        "error.html", status=409, title=_("Integriteitscontrole mislukt"),
        message=_("Dit gearchiveerde bestand komt niet overeen met zijn SHA-256; er werd niets "
                  "geleverd. Het stagebureau werd verwittigd via de audittrail.")), 409
