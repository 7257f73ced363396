"""HTML, JavaScript and template syntax in every text field of a placement.

Escaped in every page, literal in the e-mails that reach the SMTP server (plain text, no HTML
part), and literal in the generated PDFs (rendered by the real LibreOffice, read back with
pdftotext), with every DOCX still a valid document.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import zipfile
from html.parser import HTMLParser

import pytest
from docx import Document as DocxDocument
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.errors import SignatureBlockNotFound
from docservice.models import Placement
from tests.web.helpers import csrf_token
from tests.web.test_signing_flow import _open_envelope, _prepare, _sign_link

#: One payload per field, tagged with the field, so every field's escaping is seen apart.
PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(2)> & {{ 7*7 }} {%% if 1 %%}%s'
TEXT_FIELDS = ("student_first_name", "student_last_name", "programme", "company_name",
               "company_address", "company_signatory_name", "company_signatory_title",
               "mentor_name", "docent_name", "assignment", "expense_allowance")
RAW = ("<script>alert(", "<img src=x")


#: Fields printed in the three-column signature block get shorter payloads: a value that wraps
#: there spills under another party's anchor (see the xfail test at the end).
BLOCK_FIELDS = ("student_first_name", "student_last_name", "company_name",
                "company_signatory_name", "company_signatory_title")
SHORT = ("<script>alert(1)</script>", '"><img src=x onerror=a()>', "& {{ 7*7 }} {% if 1 %}")


def _values() -> dict[str, str]:
    values = {field: PAYLOAD % f" #{n}" for n, field in enumerate(TEXT_FIELDS)}
    for n, field in enumerate(BLOCK_FIELDS):
        values[field] = SHORT[n % len(SHORT)]
    return values


class _Markup(HTMLParser):
    """What a browser would run or load from a page: scripts, event handlers, images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dangers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.dangers.append("inline <script>")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.dangers.append("<img src=x>")
        self.dangers += [f"<{tag} {name}=...>" for name in names if name.startswith("on")]


def _assert_escaped(html: str, where: str) -> None:
    parser = _Markup()
    parser.feed(html)
    assert not parser.dangers, f"{where}: {parser.dangers}"
    for raw in RAW:  # not even as text outside an attribute
        assert raw not in re.sub(r'="[^"]*"', '=""', html), f"{where}: {raw!r} unescaped"


def _pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf,
                         capture_output=True, check=True).stdout.decode("utf-8")
    return " ".join(out.split())


def test_markup_in_every_text_field_is_escaped_in_pages_mails_and_pdfs(app, client, runtime,
                                                                        inbox, year):
    values = _values()
    placement_id = _prepare(client, runtime, **values)
    _open_envelope(client, placement_id)

    # The documents: every DOCX opens, every PDF shows the payload literally.
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        documents = [(d.kind, runtime.blobs.get(d.docx_sha256),
                      runtime.blobs.get(d.current_revision.sha256), d.id)
                     for d in placement.current_documents()]
    assert len(documents) == 3
    shown_somewhere: set[str] = set()
    for kind, docx, pdf, _ in documents:
        with zipfile.ZipFile(io.BytesIO(docx)) as archive:
            assert archive.testzip() is None
        DocxDocument(io.BytesIO(docx))  # python-docx parses every part: the XML is intact
        text = _pdf_text(pdf)
        assert "{{" not in text.replace("{{ 7*7 }}", ""), kind  # no template left unrendered
        for field, value in values.items():
            if " ".join(value.split()) in text:
                shown_somewhere.add(field)
        assert "<script>alert(1)</script>" in text, kind
    # The agreement carries the parties' names, the company, the mentor and the assignment.
    assert {"company_address", "mentor_name", "assignment", "company_signatory_name",
            "company_signatory_title", "docent_name"} <= shown_somewhere, shown_somewhere
    assert f"{values['student_first_name']} {values['student_last_name']}" in " ".join(
        _pdf_text(pdf) for _, _, pdf, _ in documents)

    # The e-mails: plain text only, the payload literal, the headers intact.
    [invitation] = inbox.to("student0@student.example.org")
    assert invitation.get_content_type() == "text/plain" and not invitation.is_multipart()
    assert "<script>alert(1)</script>" in invitation["Subject"] + invitation.get_content()
    assert set(invitation.keys()) <= {"From", "To", "Subject", "Date", "Message-ID",
                                      "Content-Type", "Content-Transfer-Encoding",
                                      "MIME-Version", "X-Peer", "X-MailFrom", "X-RcptTo"}
    link = _sign_link(inbox, "student0@student.example.org")

    # The pages: the coordinator's, the desk's, the signer's, the student's.
    token = csrf_token(client.get(f"/coordinator/desk/placements/{placement_id}")
                       .get_data(as_text=True))
    issued = client.post(f"/coordinator/placements/{placement_id}/student-link",
                         data={"csrf_token": token, "confirm": "1"}).get_data(as_text=True)
    _assert_escaped(issued, "link issued")
    personal = re.search(r"http://localhost(/s/[A-Za-z0-9_-]+)", issued).group(1)
    pages = ["/coordinator/",
             f"/coordinator/desk/placements/{placement_id}", "/coordinator/desk/print",
             "/coordinator/desk/print?q=%3Cscript%3E", "/coordinator/?q=%3Cscript%3Ealert(1)",
             f"/coordinator/desk/placements/{placement_id}/documents/{documents[0][3]}"
             "/verification", link, personal]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        _assert_escaped(html, page)
        if page in (link, personal, f"/coordinator/desk/placements/{placement_id}"):
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, page

    # The CSV export: text a spreadsheet shows, never runs.
    exported = client.get("/coordinator/placements.csv").get_data(as_text=True)
    assert "<script>alert(1)</script>" in exported  # CSV is data, not HTML: kept as is
    for cells in csv.reader(io.StringIO(exported)):
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "-")], cells


def test_markup_in_the_signer_form_is_escaped_when_shown_again(app, client, runtime, inbox,
                                                               year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, "student0@student.example.org")
    token = csrf_token(client.get(link).get_data(as_text=True))
    response = client.post(link, data={"csrf_token": token, "full_name": PAYLOAD % "",
                                       "consent": "yes"})
    assert response.status_code == 422  # not the signer's name: shown again, escaped
    _assert_escaped(response.get_data(as_text=True), "typed name")
    response = client.post(f"{link}/decline", data={"csrf_token": token, "confirm": "1",
                                                    "reason": PAYLOAD % " decline"})
    assert response.status_code == 200
    _assert_escaped(response.get_data(as_text=True), "declined")
    page = client.get(f"/coordinator/desk/placements/{placement_id}").get_data(as_text=True)
    _assert_escaped(page, "desk after decline")
    # The coordinator is told by e-mail, in plain text, with the reason literal.
    with unit_of_work(runtime.db) as session:
        coordinator = session.scalars(select(Placement)).one().academic_year.coordinator_email
    [told] = inbox.to(coordinator)
    assert told.get_content_type() == "text/plain"
    assert "<script>alert(1)</script>" in told.get_content()


@pytest.mark.xfail(reason="documents/fields.py: an unbreakable run of text wider than its column "
                   "in the three-column signature block spills under the next party's anchor "
                   "(SignatureBlockNotFound, a clear error but no documents)",
                   raises=SignatureBlockNotFound, strict=False)
def test_long_unbreakable_words_in_the_signature_block_still_get_fields(app, client, runtime,
                                                                       year):
    _prepare(client, runtime, nda="nee", copyright_waiver="nee",
             **{field: PAYLOAD % "" for field in BLOCK_FIELDS})
