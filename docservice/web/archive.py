"""The auditor's pages: search the archive, read a document's report and trail, download, export.

Read-only: every route is GET except the export, which only reads (and records, like a
download, that it happened). Auditors, coordinators and admins may use them.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from docservice.archive import audit
from docservice.errors import N_, InvalidInput, Reason
from docservice.models import ArchiveEntry, DocumentKind
from docservice.services import archive_search
from docservice.web import db_session, request_actor, runtime
from docservice.web.auth import current_user, require_role
from docservice.web.params import MAX_ID, parse_int

bp = Blueprint("archive", __name__, url_prefix="/archive")
READERS = ("auditor", "coordinator")


def _actor() -> audit.Actor:
    user = current_user()
    return request_actor(user.email if user else "anonymous")


def _date(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise InvalidInput(name, Reason(N_("geef een datum als JJJJ-MM-DD"))) from e


def _criteria() -> archive_search.SearchCriteria:
    return archive_search.SearchCriteria(
        student=request.args.get("student", "")[:200],
        company=request.args.get("company", "")[:200],
        year=request.args.get("year", "")[:9],
        kind=request.args.get("kind", "")[:40],
        signed_from=_date("signed_from"), signed_to=_date("signed_to"),
        sha256=request.args.get("sha256", "")[:64])


@bp.get("/")
@require_role(*READERS)
def search() -> Any:
    session = db_session()
    criteria = _criteria()
    page = parse_int(request.args.get("page") or "1", low=1, high=MAX_ID // 50)
    if page is None:
        raise InvalidInput("page", Reason(N_("geef een paginanummer")))
    result = None
    if not criteria.empty:
        result = archive_search.search(session, criteria, limit=50, offset=(page - 1) * 50)
    years = list(session.scalars(select(ArchiveEntry.academic_year).distinct()
                                 .order_by(ArchiveEntry.academic_year.desc())))
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
    prev_url = url_for(".search", page=page - 1, **args) if page > 1 else None
    next_url = url_for(".search", page=page + 1, **args) if result and result.more else None
    return render_template("archive/search.html", criteria=criteria, result=result,
                           years=years, kinds=[k.value for k in DocumentKind], page=page,
                           prev_url=prev_url, next_url=next_url)


@bp.get("/<sha256>")
@require_role(*READERS)
def entry(sha256: str) -> Any:
    session = db_session()
    found = archive_search.entry_by_sha(session, sha256)
    store = runtime().archive_store
    manifest = json.loads(archive_search.read_object(found, "manifest", store=store))
    report = json.loads(archive_search.read_object(found, "report", store=store))
    versions = list(session.scalars(archive_search.entries_query().where(
        ArchiveEntry.document_id == found.document_id)))
    return render_template("archive/entry.html", entry=found, manifest=manifest, report=report,
                           trail=archive_search.trail_of(session, found.placement_id),
                           versions=versions)


@bp.get("/<sha256>/document.pdf")
@require_role(*READERS)
def download(sha256: str) -> Response:
    data, name = archive_search.download(db_session(), sha256, store=runtime().archive_store,
                                         actor=_actor())
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/<sha256>/report.json")
@require_role(*READERS)
def report_json(sha256: str) -> Response:
    found = archive_search.entry_by_sha(db_session(), sha256)
    return Response(archive_search.read_object(found, "report", store=runtime().archive_store),
                    mimetype="application/json")


@bp.get("/<sha256>/manifest.json")
@require_role(*READERS)
def manifest_json(sha256: str) -> Response:
    found = archive_search.entry_by_sha(db_session(), sha256)
    return Response(archive_search.read_object(found, "manifest", store=runtime().archive_store),
                    mimetype="application/json")


@bp.get("/<sha256>/report.html")
@require_role(*READERS)
def report_html(sha256: str) -> Response:
    found = archive_search.entry_by_sha(db_session(), sha256)
    html = archive_search.read_object(found, "html", store=runtime().archive_store)
    response = Response(html, mimetype="text/html")
    # The stored rendering has its own inline style: allow that, and nothing else.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    return response


@bp.post("/export")
@require_role(*READERS)
def export() -> Response:
    shas = request.form.getlist("sha256")
    rt = runtime()
    data = archive_search.export_package(db_session(), shas, store=rt.archive_store,
                                         sources=rt.ltv_sources(), actor=_actor())
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="audit-package.zip"'})


@bp.errorhandler(archive_search.ArchiveDamaged)
def damaged(e: archive_search.ArchiveDamaged) -> Any:
    """An object that fails its integrity check is never served: the auditor is told so, and
    the failure goes into the entry and the trail as `archive verify` records it."""
    archive_search.record_damage(db_session(), e, actor=_actor())
    if request.accept_mimetypes.best == "application/json":
        message = (f"Integrity check failed: {e}. Nothing was served. The failure is recorded "
                   "in the audit trail; run `docservice archive verify --all` to check every "
                   "archived document.")
        return {"error": "Integrity check failed", "message": message, "object": e.key,
                "expected_sha256": e.expected_sha256, "found_sha256": e.found_sha256}, 409
    return render_template(
        "error.html", status=409, title=_("Integriteitscontrole mislukt"),
        message=_("Integriteitscontrole mislukt: %(problem)s. Er werd niets geleverd. De fout "
                  "staat in de audittrail; voer `docservice archive verify --all` uit om elk "
                  "gearchiveerd document te controleren.", problem=str(e))), 409
