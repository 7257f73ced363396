"""Issue 15, item 6: every page in its reader's language, through the gettext catalogues."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from docservice.web import i18n
from tests.web.helpers import login, make_user
from tests.web.test_signing_flow import STUDENT, _open_envelope, _prepare, _sign, _sign_link

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "docservice" / "translations"
#: Shorter texts ("open", "Document", "student") are the same word in both languages.
SHORTEST = 12


def _extracted() -> set[str]:
    """Every msgid of the web face, extracted afresh as `make i18n` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalogue(language: str) -> Catalog:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def test_every_dutch_message_is_translated_in_the_english_catalogue():
    english = _catalogue("en")
    translated = {m.id for m in english if m.id and m.string and not m.fuzzy}
    missing = sorted(_extracted() - translated)
    assert not missing, f"run `make i18n` and translate these in en/messages.po: {missing}"


def test_the_compiled_catalogues_are_those_of_the_po_files():
    for language in i18n.LANGUAGES:
        with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").open("rb") as f:
            compiled = {m.id: m.string for m in read_mo(f) if m.id}
        source = {m.id: m.string for m in _catalogue(language) if m.id and m.string
                  and not m.fuzzy}
        assert compiled == source, f"run `make i18n`: {language}/messages.mo is stale"


def _chunks(text: str) -> list[str]:
    """The literal parts of a message long enough to tell the languages apart."""
    plain = re.sub(r"<[^>]+>", "", text)
    return [c.strip() for c in re.split(r"%\([a-z_]+\)s", plain) if len(c.strip()) >= SHORTEST]


def _words_of(language: str) -> set[str]:
    """Texts of the catalogue that appear only in `language`'s pages."""
    words = set()
    for m in _catalogue("en"):
        if not m.id or m.string == m.id:
            continue
        dutch, english = _chunks(m.id), _chunks(m.string)
        words.update(c for c in (dutch if language == "nl" else english)
                     if not any(c in other for other in (english if language == "nl" else dutch)))
    return words


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _foreign(page: str, language: str) -> list[str]:
    other = "en" if language == "nl" else "nl"
    return sorted(w for w in _words_of(other) if w in page)


STAFF_PAGES = ("/login", "/coordinator/", "/verify", "/archive/?student=zzz", "/coordinator/jobs/",
               "/no/such/page")


@pytest.mark.parametrize("language", ["nl", "en"])
def test_staff_pages_speak_one_language(client, runtime, year, language: str):
    assert "Aanmelden" in _text(client.get("/login"))  # Dutch by default
    make_user(runtime)
    login(client)
    client.get(f"/coordinator/?lang={language}")  # the switch: kept for the session
    for path in STAFF_PAGES:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        page = _text(response)
        assert f'<html lang="{language}">' in page, path
        assert not _foreign(page, language), (path, _foreign(page, language))
    missing = _text(client.get("/no/such/page"))
    assert ("Niet gevonden" if language == "nl" else "Not found") in missing


def test_a_signing_page_in_english_and_the_company_addressed_with_u(client, runtime, inbox,
                                                                      year):
    placement_id = _prepare(client, runtime, language="en")
    _open_envelope(client, placement_id)
    client.get("/coordinator/?lang=nl")  # the coordinator's choice is not the signer's
    link = _sign_link(inbox, STUDENT)
    page = _text(client.get(link))
    assert '<html lang="en">' in page and "Sign all documents" in page
    assert not _foreign(page, "en"), _foreign(page, "en")
    assert "Please sign by" in page and "as the student" in page


def test_dutch_signing_pages_say_je_to_the_student_and_u_to_the_company(client, runtime, inbox,
                                                                          year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    student_link = _sign_link(inbox, STUDENT)
    student_page = _text(client.get(student_link))
    assert "Typ je volledige naam" in student_page and "Typ uw" not in student_page
    assert not _foreign(student_page, "nl"), _foreign(student_page, "nl")
    assert _sign(client, student_link, "Zoë Vermeulen-D'Hondt").status_code == 200
    company_link = _sign_link(inbox, "els@janssens.example.com")
    company_page = _text(client.get(company_link))
    assert "Typ uw volledige naam" in company_page and "ondertekenen met uw eigen" in company_page
    # The page's own words, not the documents' text (shown under each page image).
    own_words = re.sub(r"<details.*?</details>", "", company_page, flags=re.S)
    assert not re.search(r"\b(je|jouw)\b", own_words), "a company signatory is 'u'"


@pytest.mark.parametrize(("language", "winter", "summer"), [
    ("nl", "15/12/2023 14:05 CET", "01/07/2024 09:30 CEST"),
    ("en", "15/12/2023 14:05 CET", "01/07/2024 09:30 CEST"),
])
def test_dates_and_moments_in_brussels_time_with_the_zone(app, language: str, winter: str,
                                                           summer: str):
    with app.test_request_context(f"/?lang={language}"):
        assert i18n.format_moment(datetime(2023, 12, 15, 13, 5, tzinfo=UTC)) == winter
        assert i18n.format_moment(datetime(2024, 7, 1, 7, 30, tzinfo=UTC)) == summer
        # Past midnight in Brussels is the next day, whatever the server's zone.
        assert i18n.format_day(datetime(2023, 12, 14, 23, 30, tzinfo=UTC)) == "15/12/2023"
        assert i18n.format_day(date(2024, 2, 12)) == "12/02/2024"
        assert i18n.format_moment(datetime(2023, 12, 15, 13, 5)) == winter  # naive is UTC
        assert i18n.label("state", "draft") == ("ontwerp" if language == "nl" else "draft")


def _field_error(page: str, field: str) -> str:
    """The text beside `field` on a signing page (its aria-describedby target)."""
    assert f'id="{field}" ' in page and f'aria-describedby="{field}-error"' in page, page[:3000]
    found = re.search(rf'id="{field}-error" role="alert">(.*?)</p>', page, flags=re.S)
    assert found, page[:3000]
    return found.group(1)


def test_a_dutch_signing_form_says_why_a_name_is_refused_in_dutch_beside_the_field(
        client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    wrong = _text(_sign(client, link, "Zoe Peters"))
    assert _field_error(wrong, "full_name") == (
        "Typ je volledige naam zoals hij hier staat: Zoë Vermeulen-D'Hondt")
    # A reason of the service's own (a text direction control): in Dutch too, naming it.
    hidden = _text(_sign(client, link, "Zoë Vermeulen-D'Hondt\u202e"))
    reason = _field_error(hidden, "full_name")
    assert "bevat een teken dat de schrijfrichting stuurt (U+202E)" in reason
    assert not _foreign(hidden, "nl"), _foreign(hidden, "nl")


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_role_in_the_header_is_in_the_page_language(client, runtime, language: str):
    make_user(runtime)
    login(client)
    page = _text(client.get(f"/archive/?lang={language}"))
    role = "coördinator" if language == "nl" else "coordinator"
    assert re.search(rf"\(\s*{role}\s*\)", page), page[:3000]
    if language == "nl":
        assert "(coordinator)" not in page


def test_every_staff_page_has_a_language_switch_that_keeps_the_page(client, runtime, year):
    make_user(runtime)
    login(client)
    for path in ("/archive/?student=zzz", "/verify", "/coordinator/jobs/", "/coordinator/import",
                 "/coordinator/"):
        page = _text(client.get(path))
        switches = re.findall(r'<a id="lang-switch" href="([^"]+)"[^>]*>([^<]+)</a>', page)
        assert len(switches) == 1, (path, switches)
        [(href, text)] = switches
        assert text == "English", path
    # On the archive page: to English and back to the same page, with its query.
    page = _text(client.get("/archive/?student=zzz"))
    [href] = re.findall(r'<a id="lang-switch" href="([^"]+)"', page)
    response = client.get(href)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/archive/?student=zzz")
    english = _text(client.get(response.headers["Location"]))
    assert '<html lang="en">' in english and "Nederlands" in english
    assert not _foreign(english, "en"), _foreign(english, "en")
