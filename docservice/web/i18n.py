"""Every page in its reader's language: gettext catalogues (Flask-Babel) and Belgian time.

Messages are written in Dutch, the default language, and the English catalogue
(docservice/translations/en) translates each; `make i18n` extracts and compiles them. Staff
pages follow a switch (?lang=, then the session); a signer's or student's page is in that
person's language (`use_language`). Dates and times are formatted by Babel in nl_BE or en_GB,
always in Brussels time, the zone shown for times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from babel.dates import format_date, format_datetime
from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, LazyString, gettext, refresh

from docservice.domain import BRUSSELS
from docservice.errors import N_ as N_  # the catalogue's marker, for the web face's modules
from docservice.errors import InvalidInput, Reason, RowError, as_reason

LANGUAGES = ("nl", "en")
DEFAULT = "nl"
#: The Babel locale of each language: dates as Belgians and Britons write them.
LOCALES = {"nl": "nl_BE", "en": "en_GB"}
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
#: Both locales write a day as 15/12/2023; a moment adds the time and the zone (CET or CEST).
DATE_FORMAT = "dd/MM/y"
MOMENT_FORMAT = "dd/MM/y HH:mm zzz"
#: A moment in a column whose header names the zone (the desk's history).
CLOCK_FORMAT = "dd/MM/y HH:mm"

babel = Babel()


#: Names of the domain's codes (states, roles, events, fields...), by group: the msgid of each.
LABELS: dict[str, dict[str, str]] = {
    "state": {
        "draft": N_("ontwerp"),
        "waiting_student": N_("wacht op student"),
        "waiting_company": N_("wacht op bedrijf"),
        "waiting_school": N_("wacht op hogeschool"),
        "complete": N_("volledig ondertekend"),
        "declined": N_("geweigerd"),
        "overdue": N_("te laat (deadline voorbij)"),
        "at_risk": N_("in gevaar (start nadert)"),
        "not_cleared": N_("mag niet starten"),
    },
    "role": {
        "student": N_("student"),
        "company": N_("bedrijf"),
        "school": N_("hogeschool"),
        "coordinator": N_("coördinator"),
        "docent": N_("docent"),
        "auditor": N_("auditor"),
        "admin": N_("beheerder"),
        "personal": N_("persoonlijke link"),
    },
    # A role as the object of a sentence: "... as the company".
    "as_role": {
        "student": N_("de student"),
        "company": N_("het stagebedrijf"),
        "school": N_("de hogeschool"),
    },
    "request": {
        "waiting": N_("wacht"),
        "pending": N_("aan de beurt"),
        "signed": N_("ondertekend"),
        "declined": N_("geweigerd"),
        "cancelled": N_("gestopt"),
    },
    "envelope": {
        "open": N_("open"),
        "completed": N_("volledig ondertekend"),
        "declined": N_("geweigerd"),
        "cancelled": N_("geannuleerd"),
    },
    "mail": {
        "sent": N_("verstuurd"),
        "pending": N_("wachtend"),
        "sending": N_("wordt verstuurd"),
        "failed": N_("mislukt"),
    },
    "run": {
        "queued": N_("in de wachtrij"),
        "running": N_("bezig"),
        "done": N_("klaar"),
        "failed": N_("mislukt"),
    },
    "doc": {
        "stageovereenkomst": N_("Stageovereenkomst"),
        "geheimhoudingsverklaring": N_("Geheimhoudingsverklaring"),
        "afstand-auteursrecht": N_("Afstand van auteursrecht"),
    },
    "sort": {
        "days": N_("dagen over (dringendste eerst)"),
        "-days": N_("dagen over (minst dringend eerst)"),
        "start": N_("startdatum"),
        "name": N_("naam"),
        "state": N_("status"),
    },
    "answer": {"yes": N_("ja"), "no": N_("nee")},
    "event": {
        "placement.imported": N_("plaatsing geïmporteerd"),
        "placement.changed": N_("gegevens gewijzigd"),
        "placement.not_cleared": N_("gemarkeerd: mag niet starten"),
        "document.generated": N_("document gegenereerd"),
        "document.downloaded": N_("document gedownload"),
        "documents.regenerated": N_("documenten opnieuw gemaakt"),
        "envelope.opened": N_("envelop geopend"),
        "envelope.completed": N_("envelop volledig ondertekend"),
        "envelope.superseded": N_("envelop geannuleerd en vervangen"),
        "link.issued": N_("link aangemaakt"),
        "link.revoked": N_("link ingetrokken"),
        "link.opened": N_("link geopend"),
        "signer.invited": N_("uitnodiging verstuurd"),
        "signer.signed": N_("ondertekend"),
        "signer.declined": N_("geweigerd"),
        "signer.link_resent": N_("nieuwe link verstuurd"),
        "signer.changed": N_("ondertekenaar gewijzigd"),
        "reminder.sent": N_("herinnering verstuurd"),
        "escalation.sent": N_("escalatie verstuurd"),
    },
    "field": {
        "student_number": N_("Studentennummer"),
        "student_first_name": N_("Voornaam student"),
        "student_last_name": N_("Familienaam student"),
        "student_email": N_("E-mail student"),
        "programme": N_("Opleiding"),
        "company_name": N_("Naam bedrijf"),
        "company_number": N_("Ondernemingsnummer"),
        "company_address": N_("Adres bedrijf"),
        "company_signatory_name": N_("Ondertekenaar bedrijf"),
        "company_signatory_title": N_("Functie ondertekenaar"),
        "company_signatory_email": N_("E-mail ondertekenaar"),
        "mentor_name": N_("Mentor"),
        "mentor_email": N_("E-mail mentor"),
        "mentor_phone": N_("Telefoon mentor"),
        "docent_name": N_("Docent"),
        "docent_email": N_("E-mail docent"),
        "start_date": N_("Startdatum"),
        "end_date": N_("Einddatum"),
        "assignment": N_("Opdracht"),
        "nda": N_("Geheimhoudingsverklaring"),
        "copyright_waiver": N_("Afstand van auteursrecht"),
        "thesis_at_company": N_("Bachelorproef bij het bedrijf"),
        "expense_allowance": N_("Onkostenvergoeding"),
        "thesis_permission_date": N_("Toestemming bachelorproef op"),
        "language": N_("Taal van de documenten"),
    },
    # What happened to a personal link that no longer works (%(when)s: a moment).
    "fate": {
        "signed": N_("U hebt ondertekend op %(when)s."),
        "declined": N_("U hebt de ondertekening geweigerd op %(when)s."),
        "stopped": N_("De ondertekening werd stopgezet op %(when)s; de envelop is afgesloten."),
        "expired": N_("Deze link is verlopen op %(when)s."),
        "replaced": N_("Deze link is vervangen door een nieuwere link op %(when)s."),
        "revoked": N_("Deze link werd ingetrokken op %(when)s."),
    },
    # The same to a student, who is addressed with "je" on every page.
    "fate_student": {
        "signed": N_("Je hebt ondertekend op %(when)s."),
        "declined": N_("Je hebt de ondertekening geweigerd op %(when)s."),
        "stopped": N_("De ondertekening werd stopgezet op %(when)s; de envelop is afgesloten."),
        "expired": N_("Deze link is verlopen op %(when)s."),
        "replaced": N_("Deze link is vervangen door een nieuwere link op %(when)s."),
        "revoked": N_("Deze link werd ingetrokken op %(when)s."),
    },
    "signature_kind": {
        "signature": N_("Handtekening"),
        "document_timestamp": N_("Documenttijdstempel"),
    },
    # How a signature covers its file (verification reports).
    "coverage": {
        "ENTIRE_FILE": N_("het hele bestand"),
        "ENTIRE_REVISION": N_("de hele versie die ondertekend werd (latere toevoegingen apart "
                              "gecontroleerd)"),
        "CONTIGUOUS_BLOCK_FROM_START": N_("een deel vanaf het begin van het bestand"),
        "UNCLEAR": N_("onduidelijk welk deel"),
    },
    # A verification report's codes (ETSI EN 319 102-1, EU DSS): named for a person, the code
    # itself shown beside the name for auditors who search for it.
    "indication": {
        "TOTAL_PASSED": N_("Geslaagd"),
        "TOTAL_FAILED": N_("Mislukt"),
        "INDETERMINATE": N_("Onbeslist"),
        "verificatiefout": N_("Verificatiefout"),
    },
    "sub_indication": {
        "FORMAT_FAILURE": N_("het bestand is geen geldige (ondertekende) PDF"),
        "HASH_FAILURE": N_("de ondertekende inhoud is gewijzigd"),
        "SIG_CRYPTO_FAILURE": N_("de cryptografische handtekening klopt niet"),
        "SIG_CONSTRAINTS_FAILURE": N_("de handtekening voldoet niet aan het beleid"),
        "CHAIN_CONSTRAINTS_FAILURE": N_("de certificaatketen voldoet niet aan het beleid"),
        "CERTIFICATE_CHAIN_GENERAL_FAILURE": N_("de certificaatketen is ongeldig"),
        "NO_CERTIFICATE_CHAIN_FOUND": N_("geen certificaatketen naar een vertrouwde bron"),
        "REVOKED": N_("het certificaat is ingetrokken"),
        "REVOKED_NO_POE": N_("het certificaat is ingetrokken (geen bewijs van bestaan ervoor)"),
        "EXPIRED": N_("het certificaat is verlopen"),
        "NOT_YET_VALID": N_("het certificaat was nog niet geldig"),
        "OUT_OF_BOUNDS_NO_POE": N_("het certificaat was niet geldig bij ondertekening (geen "
                                   "bewijs van bestaan)"),
        "OUT_OF_BOUNDS_NOT_REVOKED": N_("het certificaat was niet geldig bij ondertekening"),
        "TRY_LATER": N_("nog geen actuele intrekkingsinformatie: probeer later opnieuw"),
        "NO_POE": N_("geen bewijs van bestaan (tijdstempel) op het nodige moment"),
        "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": N_("te zwakke cryptografie (geen bewijs van "
                                                "bestaan)"),
        "NO_SIGNATURE_FOUND": N_("geen handtekening gevonden"),
    },
    # ETSI TS 119 172-4 levels, as the EU DSS validator names them (signing.qualification).
    "qualification": {
        "QESig": N_("gekwalificeerde elektronische handtekening"),
        "QESeal": N_("gekwalificeerd elektronisch zegel"),
        "AdESig-QC": N_("geavanceerde handtekening met gekwalificeerd certificaat"),
        "AdESeal-QC": N_("geavanceerd zegel met gekwalificeerd certificaat"),
        "AdESig": N_("geavanceerde elektronische handtekening"),
        "AdESeal": N_("geavanceerd elektronisch zegel"),
        "AdES": N_("geavanceerde handtekening of zegel"),
        "Indeterminate QESig": N_("onbeslist: gekwalificeerde elektronische handtekening"),
        "Indeterminate QESeal": N_("onbeslist: gekwalificeerd elektronisch zegel"),
        "Indeterminate AdESig-QC": N_("onbeslist: geavanceerde handtekening met gekwalificeerd "
                                      "certificaat"),
        "Indeterminate AdESeal-QC": N_("onbeslist: geavanceerd zegel met gekwalificeerd "
                                       "certificaat"),
        "Indeterminate AdESig": N_("onbeslist: geavanceerde elektronische handtekening"),
        "Indeterminate AdESeal": N_("onbeslist: geavanceerd elektronisch zegel"),
        "Indeterminate AdES": N_("onbeslist: geavanceerde handtekening of zegel"),
        "N/A": N_("niet van toepassing"),
    },
    "revocation": {
        "good": N_("niet ingetrokken"),
        "revoked": N_("ingetrokken"),
        "unknown": N_("onbekend"),
        "not checked (the certificate names no revocation source)": N_(
            "niet gecontroleerd (het certificaat noemt geen intrekkingsbron)"),
        "not checked (no revocation source)": N_("niet gecontroleerd (geen intrekkingsbron)"),
    },
    # What later revisions changed after a signature (signing.verify.changes.CATEGORY_ORDER).
    "changes_after": {
        "none": N_("geen"),
        "timestamps_and_validation_data": N_("alleen tijdstempels en validatiegegevens"),
        "signatures_and_form_filling": N_("handtekeningen en ingevulde formuliervelden"),
        "other": N_("andere wijzigingen"),
    },
    # What a link or error page says was not found (NotFound.what).
    "thing": {
        "placement": N_("Plaatsing"),
        "document": N_("Document"),
        "document format": N_("Documentformaat"),
        "envelope": N_("Envelop"),
        "file": N_("Bestand"),
        "link": N_("Link"),
        "signature request": N_("Handtekeningaanvraag"),
        "signed documents": N_("Ondertekende documenten"),
        "signer": N_("Ondertekenaar"),
        "decision": N_("Beslissing"),
    },
}


def label(group: str, code: str | None, **values: object) -> str:
    """The name of `code` in `group` in this page's language; the code itself if unnamed."""
    if code is None:
        return ""
    msgid = LABELS[group].get(code)
    if msgid is None:
        return code
    return str(gettext(msgid, **values))


def lazy_label(group: str, code: str, fallback: str | None = None) -> LazyString | str:
    """`label(group, code)`, translated only when shown (so an error can be said in English to
    a JSON caller and in the page's language to a person); `fallback` (else the code) when the
    code has no name."""
    if code not in LABELS[group]:
        return code if fallback is None else fallback
    return LazyString(label, group, code)


def reason_text(reason: Reason | str) -> str:
    """A service's reason (`errors.Reason`) in this page's language, its values filled in."""
    return as_reason(reason).translated(lambda msgid: str(gettext(msgid)))


def row_error_text(error: RowError) -> str:
    """One refused cell of an import or the edit form: where, and why (`reason_text`)."""
    # Column "-": the row as a whole (said as the CLI says it, "column -").
    return str(gettext("regel %(line)s, kolom %(column)s: %(reason)s", line=error.line,
                       column=error.column, reason=reason_text(error.reason)))


def invalid_input_text(error: InvalidInput) -> str:
    """A refused form field: its name (`label("field")`) and why."""
    return f"{label('field', error.field)}: {reason_text(error.reason)}"


def current_language() -> str:
    """The staff language of this request: ?lang=, else the session's choice, else Dutch."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT


def page_language() -> str:
    """The language this page is written in: its reader's (`use_language`), else the staff's."""
    if not has_request_context():
        return DEFAULT
    chosen = g.get("page_language")
    return chosen if chosen in LANGUAGES else current_language()


def use_language(language: str) -> str:
    """Write the rest of this request in `language` (a signer's or a student's); returns the
    language used (Dutch for a language we have no catalogue for)."""
    g.page_language = language if language in LANGUAGES else DEFAULT
    refresh()  # Flask-Babel caches the request's locale: forget it
    return str(g.page_language)


def _locale(language: str | None) -> str:
    return LOCALES[language if language in LANGUAGES else page_language()]


def _aware(value: datetime) -> datetime:
    # The database hands back naive UTC on some engines: never read it as local time.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_day(value: date | datetime | None, language: str | None = None) -> str:
    """15/12/2023: a day (a moment's day in Brussels)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _aware(value).astimezone(BRUSSELS).date()
    return format_date(value, DATE_FORMAT, locale=_locale(language))


def format_clock(value: datetime | None, language: str | None = None) -> str:
    """15/12/2023 14:05 in Brussels time, for a column that names the zone in its header."""
    if value is None:
        return ""
    return format_datetime(_aware(value), CLOCK_FORMAT, tzinfo=BRUSSELS,
                           locale=_locale(language))


def format_moment(value: datetime | str | None, language: str | None = None) -> str:
    """15/12/2023 14:05 CET: a moment in Brussels time, the zone shown."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value  # not a moment after all (a report's free text): show it as it is
    else:
        moment = value
    return format_datetime(_aware(moment), MOMENT_FORMAT, tzinfo=BRUSSELS, locale=_locale(language))


def _select_locale() -> str:
    return LOCALES[page_language()]


def _select_timezone() -> str:
    return "Europe/Brussels"


def _template_context() -> dict[str, str]:
    return {"lang": page_language()}


def init_app(app: Flask) -> None:
    """Bind Flask-Babel to `app`; `_()`, `label()`, `lang` and the date filters in templates."""
    if app.extensions.get("docservice.i18n"):
        return
    app.extensions["docservice.i18n"] = True
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LOCALES[DEFAULT])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Brussels")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    app.context_processor(_template_context)
    app.add_template_filter(format_day, "day")
    app.add_template_filter(format_moment, "moment")
    app.add_template_filter(format_clock, "clock")
    app.add_template_global(label, "label")
