"""The one place that turns errors into status codes and pages."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from docservice.errors import (
    AlreadySigned,
    DocserviceError,
    EnvelopeClosed,
    EnvelopeConflict,
    ImportRejected,
    InvalidInput,
    LinkExpired,
    LinkInvalid,
    NotFound,
    OutOfOrder,
)

log = logging.getLogger(__name__)


def _page(status: int, title: str, message: str) -> tuple[str, int]:
    if request.path.startswith("/api/"):
        # The API answers JSON, in its own shape, even where no API route matched (a 404, a
        # 405, an id out of range): its blueprint's handlers only see requests it routed.
        return ({"error": title.lower().replace(" ", "_"), "message": message},  # type: ignore[return-value]
                status)
    if request.accept_mimetypes.best == "application/json":
        return {"error": title, "message": message}, status  # type: ignore[return-value]
    return render_template("error.html", status=status, title=title, message=message), status


def _record_refusal(action: str, *, placement_id: int | None = None, **detail: object) -> None:
    """Put a refusal in the audit trail; it outlives this request's rollback."""
    from docservice.archive import audit
    from docservice.web import db_session, request_actor

    audit.record_refusal(db_session(), action, request_actor("anonymous"),
                         placement_id=placement_id, **detail)


def _link_fate_page(e: LinkExpired) -> str | None:
    """What happened to a personal link, in its holder's language, with a way to the
    documents; None for the API and JSON callers (they get the short English message)."""
    if (e.link_id is None or request.path.startswith("/api/")
            or request.accept_mimetypes.best == "application/json"):
        return None
    from datetime import UTC, datetime

    from docservice.models import AccessLink
    from docservice.services import links
    from docservice.web import db_session, i18n

    session = db_session()
    link = session.get(AccessLink, e.link_id)
    if link is None:
        return None
    fate = links.link_fate(session, link, now=datetime.now(UTC))
    token = (request.view_args or {}).get("token", "")
    return render_template("link_used.html", fate=fate, token=token, lang=fate.language,
                           when=i18n.be_moment(fate.at), t=i18n.translator(fate.language))


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(LinkInvalid)
    def link_invalid(_e: LinkInvalid) -> tuple[str, int]:
        from docservice.web.auth import LINK_BLUEPRINTS, count_unknown_link

        count_unknown_link()  # guessing tokens gets an address a 429 after a while
        if request.blueprint in LINK_BLUEPRINTS:
            # Never the token itself: the address and the time say enough.
            _record_refusal("link.refused", reason="unknown", purpose=request.blueprint)
        return _page(404, "Link not found",
                     "This link does not exist. Check that you copied the whole link from the "
                     "e-mail, or ask the internship coordinator for a new one.")

    @app.errorhandler(LinkExpired)
    def link_expired(e: LinkExpired) -> tuple[str, int]:
        _record_refusal("link.refused", placement_id=e.placement_id,
                        reason="replaced" if e.replaced else "expired", link_id=e.link_id,
                        purpose=e.purpose)
        page = _link_fate_page(e)
        if page is not None:
            return page, 410
        return _page(410, "Link no longer valid",
                     f"{str(e).capitalize()}. Ask the internship coordinator for a new link.")

    @app.errorhandler(NotFound)
    def not_found(e: NotFound) -> tuple[str, int]:
        return _page(404, "Not found", str(e).capitalize() + ".")

    @app.errorhandler(ImportRejected)
    def import_rejected(e: ImportRejected) -> tuple[str, int]:
        return _page(422, "Import rejected", "; ".join(str(x) for x in e.errors))

    @app.errorhandler(OutOfOrder)
    def out_of_order(e: OutOfOrder) -> tuple[str, int]:
        return _page(409, "Not your turn yet",
                     f"The documents are signed in the order student, company, school: {e}.")

    @app.errorhandler(AlreadySigned)
    def already_signed(e: AlreadySigned) -> tuple[str, int]:
        return _page(409, "Signed already", str(e).capitalize() + ".")

    @app.errorhandler(EnvelopeClosed)
    def envelope_closed(e: EnvelopeClosed) -> tuple[str, int]:
        return _page(409, "Envelope closed", str(e).capitalize() + ".")

    @app.errorhandler(EnvelopeConflict)
    def envelope_conflict(e: EnvelopeConflict) -> tuple[str, int]:
        return _page(409, "Cannot do that now", str(e))

    @app.errorhandler(InvalidInput)
    def invalid_input(e: InvalidInput) -> tuple[str, int]:
        return _page(422, "Check your input", str(e))

    @app.errorhandler(DocserviceError)
    def domain_error(e: DocserviceError) -> tuple[str, int]:
        log.warning("refused: %s", e)
        return _page(422, "Cannot do that", str(e))

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> tuple[str, int]:
        return _page(400, "Form expired", "The form was stale or incomplete (CSRF check: "
                     f"{e.description}). Go back, reload the page and try again.")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_e: RequestEntityTooLarge) -> tuple[str, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        size = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
        return _page(413, "File too large",
                     f"The upload is larger than the {size} this service accepts. Nothing was "
                     "saved. Go back and choose a smaller file (a PDF of the signed documents "
                     "is usually well under 1 MB).")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[str, int]:
        return _page(e.code or 500, e.name, e.description or "")

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> tuple[str, int]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _page(500, "Something went wrong",
                     "The error was logged. Nothing was saved; please try again later.")
