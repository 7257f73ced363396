"""The coordinator's pages: cohort, CSV import, a placement and its documents and links."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from docservice.errors import N_, ImportRejected, InvalidInput, NotFound, Reason
from docservice.models import Placement
from docservice.services import documents as documents_service
from docservice.services import envelopes, links, notifications, own_signatures
from docservice.services import placements as placements_service
from docservice.web import db_session, i18n, public_url_for, request_actor, runtime
from docservice.web.auth import current_user, require_role

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")


def _placement(placement_id: int) -> Placement:
    placement = db_session().get(Placement, placement_id)
    if placement is None:
        raise NotFound("placement")
    return placement


def _confirmed() -> bool:
    """Whether this POST is the second step of an action that cannot be undone."""
    return request.form.get("confirm") == "1"


#: The title and the button of each confirmation step (msgids).
CONFIRMATIONS = {
    "approve": (i18n.N_("Bevestig: goedkeuren en zegel plaatsen"),
                i18n.N_("Ja, goedkeuren en zegel plaatsen")),
    "resend": (i18n.N_("Bevestig: nieuwe link sturen"),
               i18n.N_("Ja, stuur een nieuwe link (de oude vervalt)")),
    "student_link": (i18n.N_("Bevestig: nieuwe persoonlijke link"),
                     i18n.N_("Ja, maak een nieuwe link (de oude vervalt)")),
}


def _confirmation(placement: Placement, what: str, *, consequence: str, action: str,
                  fields: dict[str, str] | None = None, items: list[str] | None = None) -> Any:
    """The first step of an irreversible action: a page that names its consequence and a
    button that repeats the POST with confirm=1. Nothing was changed."""
    title, button = CONFIRMATIONS[what]
    return render_template(
        "confirm.html", title=f"{_(title)}: {placement.student_full_name}",
        consequence=[consequence], items=items or [], action=action, fields=fields or {},
        button=_(button), back_url=url_for("desk.placement", placement_id=placement.id),
        back_label=_("Niet doen, terug naar de plaatsing"))


def _actor() -> Any:
    user = current_user()
    return request_actor(user.email if user else "anonymous")


@bp.get("/")
@require_role("coordinator")
def dashboard() -> Any:
    from docservice.web.desk import dashboard_page

    return dashboard_page()


@bp.route("/import", methods=["GET", "POST"])
@require_role("coordinator")
def import_placements() -> Any:
    if request.method == "GET":
        return render_template("coordinator/import.html", columns=placements_service.COLUMNS,
                               required=placements_service.REQUIRED_COLUMNS)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("coordinator/import.html", columns=placements_service.COLUMNS,
                               required=placements_service.REQUIRED_COLUMNS,
                               errors=[_("Kies een CSV-bestand om te importeren.")]), 400
    try:
        result = placements_service.import_placements(db_session(), upload.read(),
                                                      actor=_actor())
    except ImportRejected as e:
        return render_template("coordinator/import.html", columns=placements_service.COLUMNS,
                               required=placements_service.REQUIRED_COLUMNS,
                               errors=[i18n.row_error_text(x) for x in e.errors],
                               filename=upload.filename), 422
    flash(_("%(count)s plaatsing(en) geïmporteerd uit %(filename)s.",
            count=len(result.placements), filename=upload.filename))
    return redirect(url_for(".dashboard"))


@bp.get("/placements.csv")
@require_role("coordinator")
def export_csv() -> Response:
    query = placements_service.placements_query(request.args.get("year") or None)
    body = placements_service.export_placements_csv(db_session().scalars(query))
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=placements.csv"})


@bp.post("/documents/generate")
@require_role("coordinator")
def generate_documents() -> Any:
    rt = runtime()
    year = request.form.get("year") or None
    failures: list[documents_service.GenerationFailure] = []
    made = documents_service.generate_missing(
        db_session(), converter=rt.converter, blobs=rt.blobs,
        templates_root=rt.settings.templates_path, pdfa=rt.settings.pdfa,
        converters=rt.settings.converters, actor=_actor(), year=year, failures=failures,
    )
    flash(_("%(count)s document(en) gegenereerd.", count=len(made)))
    for failure in failures[:20]:
        flash(_("Niet gegenereerd: %(failure)s", failure=failure), "error")
    if len(failures) > 20:
        flash(_("... en nog %(count)s niet gegenereerd.", count=len(failures) - 20), "error")
    return redirect(url_for(".dashboard", year=year or ""))


@bp.get("/placements/<int:placement_id>")
@require_role("coordinator")
def placement(placement_id: int) -> Any:
    """The placement's page is the desk's (one page for state, documents, signers, actions);
    this address stays for links in mail sent before."""
    return redirect(url_for("desk.placement", placement_id=_placement(placement_id).id))


@bp.post("/placements/<int:placement_id>/student-link")
@require_role("coordinator")
def issue_student_link(placement_id: int) -> Any:
    """A new personal link for the student; where one still works, first a confirmation (the
    new link stops the old one)."""
    placement = _placement(placement_id)
    rt = runtime()
    now = datetime.now(UTC)
    if not _confirmed() and links.has_live_link(db_session(), placement.id,
                                                purpose=links.STUDENT, now=now):
        return _confirmation(
            placement, "student_link",
            consequence=_("De persoonlijke link die %(name)s nu heeft, werkt daarna niet meer.",
                          name=placement.student_full_name),
            action=url_for(".issue_student_link", placement_id=placement.id),
            fields={"send": request.form.get("send", "show")})
    link, token = links.issue_link(db_session(), placement, purpose=links.STUDENT, now=now,
                                   valid_for=rt.student_link_validity, actor=_actor())
    url = public_url_for("student.home", token=token)
    emailed = request.form.get("send") == "email"
    if emailed:
        notifications.send_student_link(db_session(), placement, url, link.expires_at,
                                        mailer=rt.mail)
    # The token is shown once, now: only its hash is kept.
    return render_template("coordinator/link_issued.html", placement=placement, url=url,
                           expires_at=link.expires_at, emailed=emailed)


@bp.get("/placements/<int:placement_id>/documents/<int:document_id>.<fmt>")
@require_role("coordinator", "auditor")
def download(placement_id: int, document_id: int, fmt: str) -> Response:
    document = documents_service.document_of_placement(db_session(), placement_id, document_id)
    return _document_response(document, fmt)


def _document_response(document: Any, fmt: str) -> Response:
    """The current PDF or the rendered DOCX of `document`, as a download."""
    if fmt == "pdf":
        sha, mimetype = document.current_revision.sha256, "application/pdf"
    elif fmt == "docx":
        sha = document.docx_sha256
        mimetype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    else:
        raise NotFound("document format")
    name = f"{document.placement.student_number}-{document.kind}.{fmt}"
    return Response(runtime().blobs.get(sha), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _now() -> datetime:
    return datetime.now(UTC)


@bp.post("/placements/<int:placement_id>/envelope")
@require_role("coordinator")
def open_envelope(placement_id: int) -> Any:
    envelopes.open_envelope(db_session(), _placement(placement_id), now=_now(),
                            actor=_actor(), mailer=runtime().mail, settings=runtime().settings)
    flash(_("Envelop geopend: de student kreeg een link om te ondertekenen per e-mail."))
    return redirect(url_for("desk.placement", placement_id=placement_id))


@bp.post("/envelopes/open")
@require_role("coordinator")
def open_envelopes() -> Any:
    year = request.form.get("year") or None
    session = db_session()
    ready = envelopes.placements_without_envelope(session, year)
    for placement in ready:
        envelopes.open_envelope(session, placement, now=_now(), actor=_actor(),
                                mailer=runtime().mail, settings=runtime().settings)
    flash(_("%(count)s envelop(pen) geopend; elke student kreeg een link om te ondertekenen "
            "per e-mail.", count=len(ready)))
    return redirect(url_for(".dashboard", year=year or ""))


@bp.post("/placements/<int:placement_id>/envelope/resend/<role>")
@require_role("coordinator")
def resend_link(placement_id: int, role: str) -> Any:
    """E-mail the signer a new link; where their link still works, first a confirmation."""
    envelope = envelopes.envelope_of_placement(db_session(), placement_id)
    if role not in ("student", "company"):
        raise NotFound("signer")
    signer = envelope.request_for(role)
    if not _confirmed() and links.has_live_link(db_session(), placement_id,
                                                purpose=envelopes.SIGN, now=_now(),
                                                signature_request_id=signer.id):
        envelopes.check_turn(signer)
        return _confirmation(
            envelope.placement, "resend",
            consequence=_("De link die %(name)s (%(role)s) al kreeg, werkt daarna niet meer; "
                          "%(email)s krijgt een nieuwe link per e-mail.",
                          name=signer.signer_name, role=i18n.label("role", role),
                          email=signer.signer_email),
            action=url_for(".resend_link", placement_id=placement_id, role=role))
    envelopes.resend(db_session(), signer, now=_now(), actor=_actor(), mailer=runtime().mail,
                     settings=runtime().settings)
    flash(_("Een nieuwe link werd gemaild naar %(email)s; de oude werkt niet meer.",
            email=signer.signer_email))
    return redirect(url_for("desk.placement", placement_id=placement_id))


@bp.post("/placements/<int:placement_id>/envelope/company-signatory")
@require_role("coordinator")
def change_company_signatory(placement_id: int) -> Any:
    envelope = envelopes.envelope_of_placement(db_session(), placement_id)
    changed = envelopes.change_company_signatory(
        db_session(), envelope, name=request.form.get("name", ""),
        email=request.form.get("email", ""), now=_now(), actor=_actor(),
        mailer=runtime().mail, settings=runtime().settings)
    flash(_("De ondertekenaar van het bedrijf is nu %(name)s <%(email)s>.",
            name=changed.signer_name, email=changed.signer_email))
    return redirect(url_for("desk.placement", placement_id=placement_id))


@bp.post("/placements/<int:placement_id>/envelope/approve")
@require_role("coordinator")
def approve(placement_id: int) -> Any:
    """Apply the school's seal, in two steps: the first POST names what sealing does."""
    envelope = envelopes.envelope_of_placement(db_session(), placement_id)
    user = current_user()
    assert user is not None
    school = envelope.request_for("school")
    if not _confirmed():
        envelopes.check_turn(school)
        documents = [d for d in envelope.documents if d.superseded_at is None]
        return _confirmation(
            envelope.placement, "approve",
            consequence=_("Het zegel van de hogeschool wordt op %(n)s document(en) geplaatst, "
                          "ondertekend namens de hogeschool door %(signatory)s (zoals in de "
                          "overeenkomst). De envelop is dan volledig ondertekend: de documenten "
                          "worden gearchiveerd en elke partij krijgt haar exemplaar. Een zegel "
                          "kan niet ingetrokken worden.", n=len(documents),
                          signatory=school.signer_name),
            action=url_for(".approve", placement_id=placement_id),
            items=[f"{i18n.label('doc', d.kind)} ({d.reference})" for d in documents])
    rt = runtime()
    envelopes.sign(db_session(), school, typed_name=school.signer_name, consent=True,
                   now=_now(), actor=_actor(), approved_by=user.name, signer=rt.signer,
                   blobs=rt.blobs, mailer=rt.mail, settings=rt.settings, enqueue=rt.enqueue)
    flash(_("Goedgekeurd: het zegel van de hogeschool staat op elk document van de envelop."))
    return redirect(url_for("desk.placement", placement_id=placement_id))


@bp.post("/placements/<int:placement_id>/envelope/external/<decision>")
@require_role("coordinator")
def decide_external_signature(placement_id: int, decision: str) -> Any:
    if decision not in ("accept", "reject"):
        raise NotFound("decision")
    upload_id = request.form.get("upload", "").strip()
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise InvalidInput("upload", Reason(
            N_("noem de upload die u aanvaardt of weigert (zijn id staat ernaast)")))
    envelope = envelopes.envelope_of_placement(db_session(), placement_id)
    rt = runtime()
    own_signatures.decide(db_session(), envelope, upload_id=upload_id,
                          accept=decision == "accept", now=_now(), actor=_actor(),
                          signer=rt.signer, blobs=rt.blobs, trust=rt.trust, mailer=rt.mail,
                          settings=rt.settings, enqueue=rt.enqueue)
    flash(_("Handtekening aanvaard: de ondertekening gaat verder.") if decision == "accept"
          else _("Handtekening geweigerd: de ondertekenaar kan opnieuw ondertekenen."))
    return redirect(url_for("desk.placement", placement_id=placement_id))
