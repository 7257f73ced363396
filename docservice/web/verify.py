"""Verification reports in the web app: any uploaded PDF, and every envelope document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask_babel import gettext as _

from docservice.archive import audit
from docservice.observability.metrics import VERIFICATION_FAILURES
from docservice.services import documents as documents_service
from docservice.signing.verify import Report, verify_pdf
from docservice.signing.verify.policy import policy_choice
from docservice.signing.verify.report import TOTAL_PASSED
from docservice.signing.verify.sandbox import verify_untrusted
from docservice.web import db_session, request_actor, runtime
from docservice.web.auth import current_user, require_role

bp = Blueprint("verify", __name__)


def _respond(report: Report, title: str, status: int = 200, *, where: str) -> Any:
    if report.indication != TOTAL_PASSED:
        VERIFICATION_FAILURES.labels(where=where).inc()
    if request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json":
        return jsonify(report.to_json()), status
    return render_template("verify/report.html", report=report, title=title), status


@bp.route("/verify", methods=["GET", "POST"])
@require_role("coordinator", "auditor")
def upload() -> Any:
    if request.method == "GET":
        return render_template("verify/upload.html")
    file = request.files.get("file")
    if file is None or not file.filename:
        return render_template("verify/upload.html", error=_("Kies een PDF-bestand.")), 400
    data = file.read()
    policy = policy_choice(request.form.get("policy"))
    settings = runtime().settings
    report = verify_untrusted(data, trust=runtime().trust, policy=policy,
                              memory_mb=settings.verify_memory_mb,
                              seconds=settings.verify_seconds)
    user = current_user()
    audit.record(db_session(), "document.verified", request_actor(user.email if user else "-"),
                 sha256=report.sha256, indication=report.indication, source="upload")
    return _respond(report, file.filename, where="upload")


@bp.get("/coordinator/placements/<int:placement_id>/documents/<int:document_id>/report")
@require_role("coordinator", "auditor")
def document_report(placement_id: int, document_id: int) -> Any:
    document = documents_service.document_of_placement(db_session(), placement_id, document_id)
    pdf = runtime().blobs.get(document.current_revision.sha256)
    report = verify_pdf(pdf, trust=runtime().trust)
    return _respond(report, document.reference, where="document")
