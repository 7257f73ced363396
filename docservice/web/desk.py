"""The coordinator's desk: the cohort at a glance, a placement's status, history and actions."""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from docservice.archive import audit
from docservice.config import DeskSettings
from docservice.domain import today_in_brussels
from docservice.errors import ConfirmationRequired, ImportRejected, NotFound
from docservice.models import (
    AccessLink,
    AuditEvent,
    Document,
    EnvelopeStatus,
    Placement,
    SignatureRequest,
)
from docservice.services import (
    desk,
    desk_actions,
    desk_details,
    desk_status,
    desk_verification,
    own_signatures,
    placement_edits,
)
from docservice.services import placements as placements_service
from docservice.services.desk import DeskFilter, PlacementStatus, State
from docservice.services.placements import spreadsheet_safe
from docservice.web import db_session, i18n, request_actor, runtime
from docservice.web.auth import _safe_next, current_user, require_role
from docservice.web.params import parse_int

bp = Blueprint("desk", __name__, url_prefix="/coordinator/desk")
log = logging.getLogger(__name__)

ACTORS = ("coordinator",)  # admins pass every role check
READERS = ("coordinator", "auditor")


@bp.record_once
def _setup(state: Any) -> None:
    app = state.app
    app.extensions.setdefault("docservice.desk", app.extensions["docservice"].settings.desk)
    i18n.init_app(app)


def desk_settings() -> DeskSettings:
    """The desk's settings (reminder offsets, warning window, page size)."""
    return current_app.extensions["docservice.desk"]  # type: ignore[no-any-return]


def _now() -> datetime:
    return datetime.now(UTC)


def _actor() -> audit.Actor:
    user = current_user()
    return request_actor(user.email if user else "anonymous")


def _can_act() -> bool:
    user = current_user()
    return user is not None and user.role in ("coordinator", "admin")


def _texts() -> dict[str, Any]:
    return {"lang": i18n.current_language()}


# --- the dashboard ----------------------------------------------------------------------------


def _filter() -> tuple[DeskFilter, int]:
    args = request.args
    years = desk_details.year_codes(db_session())
    year = args.get("year")
    if year is None or (year and year not in years):
        year = years[0] if years else None
    state = args.get("state") or None
    if state is not None and state not in {s.value for s in State}:
        state = None
    sort = args.get("sort") or "days"
    if sort not in desk.SORTS:
        sort = "days"
    page = parse_int(args.get("page"), low=1) or 1  # a wrong page is the first one
    flt = DeskFilter(year=year or None, state=state,
                     company=(args.get("company") or "").strip()[:200] or None,
                     docent=(args.get("docent") or "").strip()[:254] or None,
                     query=(args.get("q") or "").strip()[:200] or None, sort=sort)
    return flt, page


def _filter_args(flt: DeskFilter) -> dict[str, str]:
    values = {"year": flt.year, "state": flt.state, "company": flt.company,
              "docent": flt.docent, "q": flt.query,
              "sort": flt.sort if flt.sort != "days" else None}
    return {k: v for k, v in values.items() if v}


def _statuses(flt: DeskFilter) -> tuple[list[PlacementStatus], dict[str, int]]:
    everything = desk_status.load_statuses(db_session(), replace(flt, state=None), now=_now(),
                                    settings=desk_settings(), cache=runtime().desk_statuses)
    counts = desk.count_states(everything)
    shown = [s for s in everything if s.matches(flt.state)] if flt.state else everything
    return shown, counts


def _fresh(rows: list[PlacementStatus]) -> tuple[list[PlacementStatus], set[str]]:
    """Check the stored PDFs of the rows on screen; re-read their status if a verdict changed.

    A new revision is verified by its job (queued when it was stored); while that job is on its
    way the PDF is left pending (the second value: their SHA-256s), not verified here.
    """
    session, rt, settings = db_session(), runtime(), desk_settings()
    shas = [r.sha256 for r in desk_details.current_revisions(session, [s.placement_id for s in rows])]
    grace = settings.verify_grace_seconds
    stats = desk_verification.refresh(
        session, shas, verifier=rt.verifier, blobs=rt.blobs, now=_now(),
        budget_seconds=settings.verify_budget_seconds,
        wait_for_queued=timedelta(seconds=grace) if grace > 0 else None)
    if not (stats.verified or stats.files_rehashed):
        return rows, stats.queued_shas
    again = {s.placement_id: s for s in desk_status.load_statuses(
        session, DeskFilter(placement_ids=tuple(s.placement_id for s in rows)),
        now=_now(), settings=settings)}
    return [again.get(s.placement_id, s) for s in rows], stats.queued_shas


def dashboard_page() -> Any:
    """The cohort: one row per placement with its state, who is next and the days left."""
    flt, page = _filter()
    statuses, counts = _statuses(flt)
    size = desk_settings().page_size
    pages = max(1, math.ceil(len(statuses) / size))
    page = min(page, pages)
    rows, _pending = _fresh(statuses[(page - 1) * size: page * size])
    session = db_session()
    years = desk_details.year_codes(session)
    # A year that does not exist (an old bookmark, a typo) is said, not silently swapped.
    asked = request.args.get("year")
    unknown_year = asked[:20] if asked and asked not in years else None
    return render_template(
        "coordinator/dashboard.html", rows=rows, details=desk_details.load_details(session, rows),
        total=len(statuses), counts=counts, page=page, pages=pages, flt=flt,
        args=_filter_args(flt), years=years, unknown_year=unknown_year,
        docents=desk_details.distinct_docents(session, flt.year), states=list(State),
        sorts=desk.SORTS, today=today_in_brussels(_now()), **_texts())


@bp.get("/print")
@require_role(*ACTORS)
def print_view() -> Any:
    """Every row the filters select, on one page laid out for paper."""
    flt, _ = _filter()
    statuses, counts = _statuses(flt)
    rows, _pending = _fresh(statuses)
    return render_template("coordinator/desk_print.html", rows=rows,
                           details=desk_details.load_details(db_session(), rows),
                           flt=flt, counts=counts, now=_now(), **_texts())


EXPORT_COLUMNS = (
    "academic_year", "student_number", "student_last_name", "student_first_name", "company",
    "docent", "start_date", "contract_deadline", "state", "stage", "next_signer",
    "days_to_deadline", "days_to_start", "student_signed", "company_signed", "school_signed",
    "documents", "documents_verified", "table_and_pdf_disagree",
)


def export_rows_csv(statuses: list[PlacementStatus], language: str) -> str:
    """The dashboard's rows as CSV in `language` (this request's): Belgian dates, every cell
    safe from formula injection."""
    def signed(status: PlacementStatus, role: str) -> str:
        r = status.role(role)
        if not r.signed:
            return ""
        return i18n.format_moment(r.table_signed_at) if r.table_signed_at else _("ondertekend")

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if language == "nl" else ",")
    writer.writerow(EXPORT_COLUMNS)
    for s in statuses:
        disagreement = "; ".join(
            _("%(role)s: volgens onze gegevens ondertekend, volgens de PDF niet",
              role=i18n.label("role", d.role)) if d.table_signed else
            _("%(role)s: de PDF is ondertekend, volgens onze gegevens niet",
              role=i18n.label("role", d.role)) for d in s.disagreements)
        if s.documents_changed:
            changed = _("OPGESLAGEN PDF GEWIJZIGD: het bestand komt niet meer overeen met zijn "
                        "SHA-256 – niet ondertekend")
            disagreement = "; ".join(x for x in (disagreement, changed) if x)
        values = [
            s.year_code, s.student_number, s.last_name, s.first_name, s.company_name,
            s.docent_name, i18n.format_day(s.start_date), i18n.format_day(s.contract_deadline),
            i18n.label("state", s.state.value), i18n.label("state", s.stage.value),
            i18n.label("role", s.next_role),
            s.days_to_deadline, s.days_to_start, signed(s, "student"), signed(s, "company"),
            signed(s, "school"), s.documents_total, s.documents_verified, disagreement,
        ]
        # Numbers stay numbers (a negative count is no formula); text is made safe.
        writer.writerow([v if isinstance(v, int) else spreadsheet_safe(v) for v in values])
    return out.getvalue()


@bp.get("/export.csv")
@require_role(*ACTORS)
def export_csv() -> Response:
    """The dashboard's current view (all pages) as CSV."""
    flt, _ = _filter()
    statuses, _counts = _statuses(flt)
    language = i18n.current_language()
    body = "\ufeff" + export_rows_csv(statuses, language)  # the BOM makes Excel read UTF-8
    name = f"stageovereenkomsten-{flt.year or 'alle'}.csv"
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    """Switch the desk's language (Dutch or English) and go back."""
    from flask import session

    if code not in i18n.LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(_safe_next(request.args.get("next")))


# --- one placement ----------------------------------------------------------------------------


def _status_or_404(placement_id: int) -> PlacementStatus:
    status = desk_status.placement_status(db_session(), placement_id, now=_now(),
                                   settings=desk_settings())
    if status is None:
        raise NotFound("placement")
    return status


@bp.get("/placements/<int:placement_id>")
@require_role(*READERS)
def placement(placement_id: int) -> Any:
    """A placement's status, documents as their PDFs say, signers, reminders and history."""
    session = db_session()
    status = _status_or_404(placement_id)
    [status], pending = _fresh([status])
    record = desk_actions.placement_or_404(session, placement_id)
    history = list(session.scalars(select(AuditEvent).where(
        AuditEvent.placement_id == placement_id).order_by(AuditEvent.id)))
    live_links = list(session.scalars(select(AccessLink).where(
        AccessLink.placement_id == placement_id, AccessLink.revoked_at.is_(None),
        AccessLink.expires_at > _now())))
    live_for = {link.signature_request.role if link.signature_request else "personal"
                for link in live_links}
    older = [e for e in record.envelopes if e.status == EnvelopeStatus.CANCELLED.value]
    return render_template(
        "coordinator/desk_placement.html", status=status, placement=record,
        envelope=record.envelope, older=older,
        details=desk_details.load_details(session, [status]).of(placement_id),
        history=history, reminders=desk_actions.reminders_of(session, placement_id),
        live_for=live_for, can_act=_can_act(), pending=pending,
        awaiting=(own_signatures.waiting_uploads(session, record.envelope) if record.envelope
                  else []),
        full_report="verify.document_report" in current_app.view_functions, **_texts())


@bp.get("/placements/<int:placement_id>/documents/<int:document_id>/verification")
@require_role(*READERS)
def verification(placement_id: int, document_id: int) -> Any:
    """What verifying a document's stored PDF says, signature by signature (HTML or JSON)."""
    session = db_session()
    document = session.get(Document, document_id)
    if document is None or document.placement_id != placement_id:
        raise NotFound("document")
    status = _status_or_404(placement_id)
    desk_verification.refresh(session, [document.current_revision.sha256],
                              verifier=runtime().verifier, blobs=runtime().blobs, now=_now())
    lines = [d for d in desk_details.load_details(session, [status]).of(placement_id)
             if d.document_id == document_id]
    # A superseded document is not on the desk any more, but its verdict can still be read.
    line = lines[0] if lines else desk_details.document_line(session, document)
    if request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json":
        return _verification_json(document, line)
    return render_template("coordinator/desk_verification.html", status=status,
                           document=document, line=line, **_texts())


def _verification_json(document: Document, line: desk_details.DocumentLine | None) -> Any:
    verdict = line.verdict if line else None
    return {
        "document": document.reference, "kind": document.kind,
        "sha256": document.current_revision.sha256,
        "stored_file_sha256": line.found_sha256 if line else None,
        "stored_file_changed": bool(line and line.changed),
        "engine": verdict.engine if verdict else None,
        "indication": verdict.indication if verdict else None,
        "reasons": list(verdict.reasons) if verdict else [],
        "signatures": [s.to_json() for s in verdict.signatures] if verdict else [],
        "report": verdict.report if verdict else None,
    }


@bp.post("/placements/<int:placement_id>/remind")
@require_role(*ACTORS)
def remind(placement_id: int) -> Any:
    """Send the signer whose turn it is a reminder now, with a fresh link; first a page that
    names who gets it and that their earlier link stops working (the POST with confirm=1)."""
    session = db_session()
    record = desk_actions.placement_or_404(session, placement_id)
    envelope = record.envelope
    turn = (envelope.next_request if envelope is not None
            and envelope.status == EnvelopeStatus.OPEN.value else None)
    if turn is not None and request.form.get("confirm") != "1":
        return _remind_confirmation(record, turn)
    # Nobody's turn: the service refuses, and says so.
    signer = desk_actions.remind_now(session, record, now=_now(), actor=_actor(),
                                  mailer=runtime().mail, settings=runtime().settings)
    flash(_("Herinnering verstuurd naar %(email)s.", email=signer.signer_email))
    return redirect(url_for(".placement", placement_id=placement_id))


def _remind_confirmation(placement: Placement, signer: SignatureRequest) -> Any:
    """The first step of "send a reminder now": who gets the mail, and what happens to the
    link they had (`desk_actions.remind_now` issues a new one; the school gets the desk's page)."""
    values = {"name": signer.signer_name, "role": i18n.label("role", signer.role),
              "email": signer.signer_email}
    if signer.role == "school":
        consequence = _("%(email)s (%(name)s, %(role)s) krijgt nu een herinnering per e-mail, "
                        "met een link naar deze plaatsing om goed te keuren.", **values)
    else:
        consequence = _("%(email)s (%(name)s, %(role)s) krijgt nu een herinnering per e-mail, "
                        "met een nieuwe link om te ondertekenen. De link die %(name)s eerder "
                        "kreeg, werkt daarna niet meer.", **values)
    return render_template(
        "confirm.html", title=_("Bevestig: nu een herinnering sturen: %(student)s",
                                student=placement.student_full_name),
        consequence=[consequence], items=[], fields={},
        action=url_for(".remind", placement_id=placement.id),
        button=_("Ja, stuur de herinnering nu"),
        back_url=url_for(".placement", placement_id=placement.id),
        back_label=_("Niet doen, terug naar de plaatsing"))


@bp.post("/placements/<int:placement_id>/links/<kind>/revoke")
@require_role(*ACTORS)
def revoke(placement_id: int, kind: str) -> Any:
    """Stop a signer's link (or the student's personal link) from working."""
    session = db_session()
    record = desk_actions.placement_or_404(session, placement_id)
    count = desk_actions.revoke_link(session, record, kind, now=_now(), actor=_actor())
    flash(_("De link van %(role)s werkt niet meer (%(n)s ingetrokken).",
            role=i18n.label("role", kind), n=count))
    return redirect(url_for(".placement", placement_id=placement_id))


@bp.post("/placements/<int:placement_id>/envelope/regenerate")
@require_role(*ACTORS)
def regenerate(placement_id: int) -> Any:
    """Supersede the envelope (kept), make the documents again and invite the student anew;
    where signatures exist, first a page that names them and asks to confirm."""
    session = db_session()
    record = desk_actions.placement_or_404(session, placement_id)
    reason = request.form.get("reason", "")
    try:
        rt = runtime()
        placement_edits.replace_envelope(session, record, reason=reason,
                                         confirmed=request.form.get("confirm"), now=_now(),
                                         actor=_actor(), converter=rt.converter,
                                         blobs=rt.blobs, mailer=rt.mail, settings=rt.settings)
    except ConfirmationRequired as e:
        return _confirmation_page(record, e, action=url_for(".regenerate",
                                                            placement_id=placement_id),
                                  fields={"reason": reason}, changes={}, reopen=True)
    flash(_("De envelop is vervangen; nieuwe documenten gemaakt en de student is opnieuw "
            "uitgenodigd."))
    return redirect(url_for(".placement", placement_id=placement_id))


def _confirmation_page(placement: Placement, required: ConfirmationRequired, *, action: str,
                       fields: dict[str, str], changes: dict[str, Any], reopen: bool) -> Any:
    """The second step of an action that voids signatures: which, by role and name, and a
    button that confirms exactly those (the form's values are carried along unchanged)."""
    return render_template("coordinator/desk_confirm.html", placement=placement,
                           lost=required.lost, token=required.token, action=action,
                           fields=fields, changes=changes, reopen=reopen, **_texts())


def _edit_page(placement: Placement, values: dict[str, str], errors: dict[str, str],
               status: int = 200) -> Any:
    session = db_session()
    envelope = placement.envelope
    return render_template(
        "coordinator/desk_edit.html", placement=placement, values=values, errors=errors,
        columns=placements_service.EDITABLE_COLUMNS,
        required=placements_service.REQUIRED_COLUMNS,
        lost=placement_edits.signatures_at_stake(session, placement),
        signed=envelope is not None and envelope.status == EnvelopeStatus.COMPLETED.value,
        **_texts()), status


#: What saving an edit did to the documents (placement_edits' outcome), in words (msgids).
SAVED = {
    "none": i18n.N_("Opgeslagen (%(fields)s)."),
    "regenerated": i18n.N_("Opgeslagen (%(fields)s); de documenten zijn opnieuw gemaakt."),
    "envelope_reopened": i18n.N_("Opgeslagen (%(fields)s); de envelop is vervangen, de "
                                 "documenten opnieuw gemaakt en de student opnieuw "
                                 "uitgenodigd."),
    "envelope_cancelled": i18n.N_("Opgeslagen (%(fields)s); de geweigerde envelop is vervangen "
                                  "en de documenten opnieuw gemaakt. Open de envelop wanneer "
                                  "alles klopt."),
}


@bp.route("/placements/<int:placement_id>/edit", methods=["GET", "POST"])
@require_role(*ACTORS)
def edit(placement_id: int) -> Any:
    """Correct the placement's data with the CSV import's checks; documents are made again.

    Where signatures exist, saving is two steps: a page names the signatures that will be
    lost, and only its confirmation cancels the envelope and makes the documents again.
    """
    session = db_session()
    record = desk_actions.placement_or_404(session, placement_id)
    if request.method == "GET":
        return _edit_page(record, placements_service.placement_values(record), {})
    values = {c: request.form.get(c, "") for c in placements_service.EDITABLE_COLUMNS}
    try:
        plan = placement_edits.plan_edit(session, record, values)
    except ImportRejected as e:
        errors: dict[str, str] = {}
        for error in e.errors:
            errors.setdefault(error.column, i18n.reason_text(error.reason))
        return _edit_page(record, values, errors, 422)
    try:
        rt = runtime()
        outcome = placement_edits.apply_edit(session, plan,
                                             confirmed=request.form.get("confirm"),
                                             now=_now(), actor=_actor(), source="edit form",
                                             converter=rt.converter, blobs=rt.blobs,
                                             mailer=rt.mail, settings=rt.settings)
    except ConfirmationRequired as e:
        return _confirmation_page(
            record, e, action=url_for(".edit", placement_id=placement_id), fields=values,
            changes=plan.changes,
            reopen=record.envelope is not None
            and record.envelope.status == EnvelopeStatus.OPEN.value)
    if not outcome.changes:
        flash(_("Niets gewijzigd: de gegevens waren al zo."))
    else:
        fields = ", ".join(i18n.label("field", c) for c in outcome.changes)
        flash(_(SAVED[outcome.documents], fields=fields))
    return redirect(url_for(".placement", placement_id=placement_id))

