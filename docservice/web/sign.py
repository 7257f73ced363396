"""The signer's link: review the envelope's documents, then sign them all or decline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext

from docservice.documents import previews
from docservice.documents.catalogue import TITLES
from docservice.errors import InvalidInput, NotFound, UploadRefused
from docservice.models import DocumentKind, RequestStatus, SignatureRequest
from docservice.services import envelopes, links, own_signatures
from docservice.web import db_session, i18n, request_actor, runtime

N_ = i18n.N_
#: What to say beside a field, to a student ("je") and to a company's signatory ("u").
FIELD_ERRORS = {
    "full_name": (N_("Typ je volledige naam zoals hij hier staat: %(name)s"),
                  N_("Typ uw volledige naam zoals hij hier staat: %(name)s")),
    "consent": (N_("Vink dit vakje aan om te bevestigen dat je deze documenten ondertekent."),
                N_("Vink dit vakje aan om te bevestigen dat u deze documenten ondertekent.")),
    "reason": (N_("Schrijf kort waarom je weigert."), N_("Schrijf kort waarom u weigert.")),
}
#: The decline confirmation's texts, to a student and to a company's signatory.
DECLINE_TEXTS = {
    "title": (N_("Bevestig dat je weigert"), N_("Bevestig dat u weigert")),
    "consequence": (
        N_("Als je weigert, stopt de ondertekening voor iedereen: de envelop wordt afgesloten, "
           "niemand kan deze documenten nog ondertekenen, en de stagecoördinator krijgt je "
           "reden per e-mail. Deze link werkt daarna niet meer."),
        N_("Als u weigert, stopt de ondertekening voor iedereen: de envelop wordt afgesloten, "
           "niemand kan deze documenten nog ondertekenen, en de stagecoördinator krijgt uw "
           "reden per e-mail. Deze link werkt daarna niet meer.")),
    "reason": (N_("Je reden"), N_("Uw reden")),
    "button": (N_("Ja, ik weiger te ondertekenen"), N_("Ja, ik weiger te ondertekenen")),
    "back": (N_("Niet weigeren, terug naar de documenten"),
             N_("Niet weigeren, terug naar de documenten")),
}


def _say(signature_request: SignatureRequest, texts: tuple[str, str], **values: object) -> str:
    """One of `texts` in the signer's language: "je" to a student, "u" to anyone else."""
    formal = signature_request.role != "student"
    return str(gettext(texts[1] if formal else texts[0], **values))

bp = Blueprint("sign", __name__, url_prefix="/sign")


def _now() -> datetime:
    return datetime.now(UTC)


def _request(token: str) -> SignatureRequest:
    signature_request = envelopes.request_for_link(db_session(), token, now=_now())
    i18n.use_language(signature_request.language)  # the signer's, whoever else uses the browser
    return signature_request


def _documents(signature_request: SignatureRequest, *, with_pages: bool = True
               ) -> list[dict[str, Any]]:
    rt = runtime()
    items = []
    for document in signature_request.envelope.documents:
        revision = document.current_revision
        # Each page's image size and text (for screen readers), cached beside the page images.
        pages = previews.page_previews(rt.blobs.get(revision.sha256), revision.sha256,
                                       rt.settings.instance_path / "previews") if with_pages else []
        items.append({
            "document": document,
            "title": TITLES[DocumentKind(document.kind)][signature_request.language],
            "sha256": revision.sha256,
            "pages": pages,
        })
    return items


def _page(signature_request: SignatureRequest, token: str, status: int = 200,
          **extra: Any) -> tuple[str, int]:
    envelope = signature_request.envelope
    waiting_for = None
    if signature_request.status == RequestStatus.WAITING.value and envelope.next_request:
        waiting_for = envelope.next_request.role
    return render_template(
        "sign/review.html", req=signature_request, envelope=envelope, token=token,
        placement=envelope.placement, year=envelope.placement.academic_year,
        documents=_documents(signature_request), waiting_for=waiting_for,
        lang=signature_request.language, **extra,
    ), status


@bp.get("/<token>")
def review(token: str) -> Any:
    signature_request = _request(token)
    link = links.resolve_link(db_session(), token, purpose=envelopes.SIGN, now=_now())
    links.record_opened(db_session(), link, request_actor(
        f"{signature_request.role}:{signature_request.signer_email}"))
    return _page(signature_request, token)


def _field_error(signature_request: SignatureRequest, error: InvalidInput) -> str:
    """What to say beside the field, in the signer's language (the service's words otherwise)."""
    if error.field not in ("consent", "full_name") or (
            error.field == "full_name" and error.reason.msgid != envelopes.NAME_MISMATCH):
        # e.g. a control character: the service's own words name it
        return i18n.reason_text(error.reason)
    return _say(signature_request, FIELD_ERRORS[error.field], name=signature_request.signer_name)


@bp.post("/<token>")
def sign(token: str) -> Any:
    signature_request = _request(token)
    typed_name = request.form.get("full_name", "")
    consent = request.form.get("consent") == "yes"
    try:
        rt = runtime()
        envelope = envelopes.sign(
            db_session(), signature_request, typed_name=typed_name,
            consent=consent, now=_now(),
            actor=request_actor(f"{signature_request.role}:{signature_request.signer_email}"),
            signer=rt.signer, blobs=rt.blobs, mailer=rt.mail, settings=rt.settings,
            enqueue=rt.enqueue)
    except InvalidInput as e:
        # The error goes beside its field, which gets the focus; what was entered stays.
        return _page(signature_request, token, 422, error=_field_error(signature_request, e),
                     error_field=e.field if e.field in ("consent", "full_name") else "full_name",
                     typed_name=typed_name, consent=consent)
    return render_template("sign/done.html", req=signature_request, envelope=envelope,
                           lang=signature_request.language,
                           documents=_documents(signature_request, with_pages=False))


@bp.post("/<token>/upload")
def upload(token: str) -> Any:
    signature_request = _request(token)
    uploads: dict[int, bytes] = {}
    for document in signature_request.envelope.documents:
        file = request.files.get(f"document-{document.id}")
        if file is not None and file.filename:
            uploads[document.id] = file.read()
    actor = request_actor(f"{signature_request.role}:{signature_request.signer_email}")
    try:
        rt = runtime()
        outcome = own_signatures.sign_with_own_certificate(
            db_session(), signature_request, uploads, now=_now(), actor=actor,
            signer=rt.signer, blobs=rt.blobs, trust=rt.trust, mailer=rt.mail,
            settings=rt.settings, enqueue=rt.enqueue)
    except InvalidInput as e:
        return _page(signature_request, token, 422,
                     upload_problems={"": [i18n.reason_text(e.reason)]})
    except UploadRefused as e:
        # The refusal is recorded in the audit trail: keep that, store nothing else.
        return _page(signature_request, token, 422, upload_problems={
            document: [i18n.reason_text(r) for r in reasons]
            for document, reasons in e.problems.items()})
    return render_template("sign/done.html", req=signature_request, envelope=outcome.envelope,
                           lang=signature_request.language,
                           awaiting_confirmation=outcome.awaiting_confirmation,
                           documents=_documents(signature_request, with_pages=False))


def _decline_error(signature_request: SignatureRequest, reason: str, error: InvalidInput) -> str:
    if not reason.strip():
        return _say(signature_request, FIELD_ERRORS["reason"])
    return i18n.reason_text(error.reason)


@bp.post("/<token>/decline")
def decline(token: str) -> Any:
    """Decline in two steps: the first POST says what declining does and asks to confirm (it
    changes nothing); only the POST with confirm=1 declines."""
    signature_request = _request(token)
    reason = request.form.get("reason", "")
    if request.form.get("confirm") != "1":
        envelopes.check_turn(signature_request)  # nothing to confirm when it is not their turn
        try:
            envelopes.checked_decline_reason(reason)
        except InvalidInput as e:
            return _page(signature_request, token, 422, reason=reason,
                         decline_error=_decline_error(signature_request, reason, e))
        def say(what: str) -> str:
            return _say(signature_request, DECLINE_TEXTS[what])

        return render_template(
            "confirm.html", lang=signature_request.language,
            title=say("title"), consequence=[say("consequence")],
            items=[f"{say('reason')}: {reason.strip()}"],
            action=url_for("sign.decline", token=token), fields={"reason": reason},
            button=say("button"),
            back_url=url_for("sign.review", token=token) + "#decline",
            back_label=say("back"))
    try:
        envelopes.decline(db_session(), signature_request, reason=reason, now=_now(),
                          actor=request_actor(f"{signature_request.role}:"
                                              f"{signature_request.signer_email}"),
                          mailer=runtime().mail, settings=runtime().settings)
    except InvalidInput as e:
        return _page(signature_request, token, 422, reason=reason,
                     decline_error=_decline_error(signature_request, reason, e))
    return render_template("sign/declined.html", req=signature_request,
                           lang=signature_request.language)


def _document(signature_request: SignatureRequest, document_id: int) -> Any:
    for document in signature_request.envelope.documents:
        if document.id == document_id:
            return document
    raise NotFound("document")


@bp.get("/<token>/documents/<int:document_id>.pdf")
def pdf(token: str, document_id: int) -> Response:
    document = _document(_request(token), document_id)
    data = runtime().blobs.get(document.current_revision.sha256)
    name = f"{document.placement.student_number}-{document.kind}.pdf"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.get("/<token>/documents/<int:document_id>/pages/<int:page>.png")
def page(token: str, document_id: int, page: int) -> Response:
    document = _document(_request(token), document_id)
    rt = runtime()
    sha = document.current_revision.sha256
    png = previews.page_png(rt.blobs.get(sha), sha, page, rt.settings.instance_path / "previews")
    return Response(png, mimetype="image/png")
