"""The one place that turns errors into status codes and pages."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import LazyString, force_locale, gettext
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
from docservice.web import i18n

log = logging.getLogger(__name__)
_ = i18n.N_  # marked for the catalogue here, translated in _page (English for JSON callers)

#: The standard HTTP errors in words: title and message (msgids).
HTTP_PAGES: dict[int, tuple[str, str]] = {
    400: (_("Ongeldige aanvraag"), _("De browser stuurde iets wat deze dienst niet begrijpt.")),
    403: (_("Geen toegang"), _("U hebt geen toegang tot deze pagina met deze rol.")),
    404: (_("Niet gevonden"), _("Deze pagina bestaat niet. Controleer het adres.")),
    405: (_("Niet toegestaan"), _("Deze actie kan niet op dit adres.")),
    410: (_("Niet meer beschikbaar"), _("Dit is er niet meer.")),
    429: (_("Te veel pogingen"), _("Te veel aanvragen na elkaar. Wacht even en probeer "
                                   "opnieuw.")),
    500: (_("Er ging iets mis"), _("De fout werd gelogd. Er werd niets opgeslagen; probeer "
                                   "het later opnieuw.")),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _page(status: int, title: str, message: str, **values: object) -> tuple[str, int]:
    """An error page in the reader's language; `title` and `message` are msgids (Dutch), the
    values may be lazy (`i18n.lazy_label`). The API and JSON callers get them in English."""
    if _wants_json():
        with force_locale(i18n.LOCALES["en"]):
            return _json(status, gettext(title), gettext(message, **values))
    return render_template("error.html", status=status, title=gettext(title),
                           message=gettext(message, **values)), status


def _json(status: int, title: str, message: str) -> tuple[str, int]:
    if request.path.startswith("/api/"):
        # The API answers JSON, in its own shape, even where no API route matched (a 404, a
        # 405, an id out of range): its blueprint's handlers only see requests it routed.
        return ({"error": title.lower().replace(" ", "_"), "message": message},  # type: ignore[return-value]
                status)
    return {"error": title, "message": message}, status  # type: ignore[return-value]


def _record_refusal(action: str, *, placement_id: int | None = None, **detail: object) -> None:
    """Put a refusal in the audit trail; it outlives this request's rollback."""
    from docservice.archive import audit
    from docservice.web import db_session, request_actor

    audit.record_refusal(db_session(), action, request_actor("anonymous"),
                         placement_id=placement_id, **detail)


def _link_fate_page(e: LinkExpired) -> str | None:
    """What happened to a personal link, in its holder's language, with a way to the
    documents; None for the API and JSON callers (they get the short English message)."""
    if e.link_id is None or _wants_json():
        return None
    from datetime import UTC, datetime

    from docservice.models import AccessLink
    from docservice.services import links
    from docservice.web import db_session

    session = db_session()
    link = session.get(AccessLink, e.link_id)
    if link is None:
        return None
    fate = links.link_fate(session, link, now=datetime.now(UTC))
    token = (request.view_args or {}).get("token", "")
    i18n.use_language(fate.language)
    return render_template("link_used.html", fate=fate, token=token,
                           when=i18n.format_moment(fate.at))


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(LinkInvalid)
    def link_invalid(_e: LinkInvalid) -> tuple[str, int]:
        from docservice.web.auth import LINK_BLUEPRINTS, count_unknown_link

        count_unknown_link()  # guessing tokens gets an address a 429 after a while
        if request.blueprint in LINK_BLUEPRINTS:
            # Never the token itself: the address and the time say enough.
            _record_refusal("link.refused", reason="unknown", purpose=request.blueprint)
        return _page(404, _("Link niet gevonden"),
                     _("Deze link bestaat niet. Controleer of u de hele link uit de e-mail "
                       "kopieerde, of vraag de stagecoördinator om een nieuwe."))

    @app.errorhandler(LinkExpired)
    def link_expired(e: LinkExpired) -> tuple[str, int]:
        _record_refusal("link.refused", placement_id=e.placement_id,
                        reason="replaced" if e.replaced else "expired", link_id=e.link_id,
                        purpose=e.purpose)
        page = _link_fate_page(e)
        if page is not None:
            return page, 410
        return _page(410, _("Link niet meer geldig"),
                     _("%(detail)s. Vraag de stagecoördinator om een nieuwe link."),
                     detail=str(e).capitalize())

    @app.errorhandler(NotFound)
    def not_found(e: NotFound) -> tuple[str, int]:
        return _page(404, _("Niet gevonden"), _("%(what)s niet gevonden."),
                     what=i18n.lazy_label("thing", e.what, e.what.capitalize()))

    @app.errorhandler(ImportRejected)
    def import_rejected(e: ImportRejected) -> tuple[str, int]:
        return _page(422, _("Import geweigerd"), "%(errors)s", errors=LazyString(
            lambda: "; ".join(i18n.row_error_text(x) for x in e.errors)))

    @app.errorhandler(OutOfOrder)
    def out_of_order(e: OutOfOrder) -> tuple[str, int]:
        return _page(409, _("Nog niet aan de beurt"),
                     _("De documenten worden ondertekend in de volgorde student, bedrijf, "
                       "hogeschool: eerst moet %(role)s ondertekenen."),
                     role=i18n.lazy_label("as_role", e.expected_role, e.expected_role))

    @app.errorhandler(AlreadySigned)
    def already_signed(e: AlreadySigned) -> tuple[str, int]:
        role = i18n.lazy_label("as_role", e.role, e.role)
        if e.signed_at is None:
            return _page(409, _("Al ondertekend"), _("Al ondertekend door %(role)s."), role=role)
        return _page(409, _("Al ondertekend"), _("Al ondertekend door %(role)s op %(when)s."),
                     role=role, when=i18n.format_moment(e.signed_at))

    @app.errorhandler(EnvelopeClosed)
    def envelope_closed(e: EnvelopeClosed) -> tuple[str, int]:
        return _page(409, _("Envelop afgesloten"),
                     _("Deze envelop is %(state)s: er kan niets meer ondertekend worden."),
                     state=i18n.lazy_label("envelope", e.status, e.status))

    @app.errorhandler(EnvelopeConflict)
    def envelope_conflict(e: EnvelopeConflict) -> tuple[str, int]:
        return _page(409, _("Dat kan nu niet"), "%(detail)s",
                     detail=LazyString(i18n.reason_text, e.reason))

    @app.errorhandler(InvalidInput)
    def invalid_input(e: InvalidInput) -> tuple[str, int]:
        return _page(422, _("Controleer wat u invulde"), "%(detail)s",
                     detail=LazyString(i18n.invalid_input_text, e))

    @app.errorhandler(DocserviceError)
    def domain_error(e: DocserviceError) -> tuple[str, int]:
        log.warning("refused: %s", e)
        return _page(422, _("Dat kan niet"), "%(detail)s", detail=str(e))

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> tuple[str, int]:
        return _page(400, _("Formulier verlopen"),
                     _("Het formulier was verouderd of onvolledig (CSRF-controle: "
                       "%(detail)s). Ga terug, vernieuw de pagina en probeer opnieuw."),
                     detail=e.description)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_e: RequestEntityTooLarge) -> tuple[str, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        size = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
        return _page(413, _("Bestand te groot"),
                     _("Het opgeladen bestand is groter dan de %(size)s die deze dienst "
                       "aanvaardt. Er werd niets opgeslagen. Ga terug en kies een kleiner "
                       "bestand (een PDF van de ondertekende documenten is meestal ruim onder "
                       "1 MB)."), size=size)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[str, int]:
        status = e.code or 500
        if _wants_json():
            return _json(status, e.name, e.description or "")
        known = HTTP_PAGES.get(status)
        if known is None:
            return _page(status, "%(name)s", "%(detail)s", name=e.name,
                         detail=e.description or "")
        title, default = known
        # A description of our own (a refused host, ...) says more than the standard one.
        own = e.description if e.description != type(e).description else None
        return _page(status, title, "%(detail)s" if own else default, detail=own or "")

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> tuple[str, int]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _page(500, _("Er ging iets mis"),
                     _("De fout werd gelogd. Er werd niets opgeslagen; probeer het later "
                       "opnieuw."))
