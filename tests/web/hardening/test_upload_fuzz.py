"""Hostile uploads and form fields: a clear 4xx or a report, never a 500 or a hang.

The own-certificate upload (/sign/<token>/upload) and the verification page (/verify) get random,
truncated and bomb bytes under hostile file names; the signing form gets random names and
consent values. Nothing is signed by any of it, and no file name is ever used as a path.
"""

from __future__ import annotations

import io
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from docservice.db import unit_of_work
from docservice.models import Placement, Revision
from tests.signing.verify.test_verify_fuzz import build_pdf
from tests.web.hardening.conftest import FUZZ
from tests.web.helpers import csrf_token
from tests.web.test_signing_flow import STUDENT, _open_envelope, _prepare, _sign_link

TIME_LIMIT = 30.0
NAMES = st.sampled_from([
    "signed.pdf", "../../../../tmp/owned.pdf", "..\\..\\windows\\owned.pdf", "/etc/passwd",
    "x\x00.pdf", "<script>alert(1)</script>.pdf", '"><img src=x onerror=alert(1)>.pdf',
    "a" * 1000 + ".pdf", "CON", ".", "..", "%2e%2e%2fowned.pdf"])


def _flate_bomb() -> bytes:
    compressor = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    data = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()
    return build_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
    ])


def _nesting_bomb() -> bytes:
    return build_pdf([b"<< /Type /Catalog /Pages 2 0 R /Nest 3 0 R >>",
                      b"<< /Type /Pages /Kids [] /Count 0 >>", b"[" * 100_000 + b"]" * 100_000])


BOMBS = [_flate_bomb(), _nesting_bomb()]


@st.composite
def hostile_pdf(draw: st.DrawFn, handed_out: bytes) -> bytes:
    """Bytes a hostile or clumsy signer uploads instead of the signed document."""
    how = draw(st.sampled_from(["random", "pdf-random", "truncated", "appended", "appended-pdf",
                                "bomb", "bomb-appended", "empty"]))
    if how == "random":
        return draw(st.binary(max_size=2000))
    if how == "pdf-random":
        return b"%PDF-1.7\n" + draw(st.binary(max_size=2000))
    if how == "truncated":
        return handed_out[:draw(st.integers(0, len(handed_out)))]
    if how == "appended":  # the handed-out bytes with garbage as "incremental update"
        return handed_out + draw(st.binary(min_size=1, max_size=2000))
    if how == "appended-pdf":
        tail = draw(st.sampled_from([b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
                                     b"\nxref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>"
                                     b"\nstartxref\n0\n%%EOF\n",
                                     b"\n" + b"[" * 50_000]))
        return handed_out + tail
    if how == "bomb":
        return draw(st.sampled_from(BOMBS))
    if how == "bomb-appended":
        return handed_out + draw(st.sampled_from(BOMBS))[len(b"%PDF-1.7\n"):]
    return b""


def _world(client, runtime, inbox) -> tuple[str, list[int], bytes]:
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        documents = placement.current_documents()
        handed_out = runtime.blobs.get(documents[0].current_revision.sha256)
        return link, [d.id for d in documents], handed_out


def _revisions(runtime) -> int:
    with unit_of_work(runtime.db) as session:
        return session.scalar(select(func.count()).select_from(Revision)) or 0


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if "blobs" not in p.parts and p.suffix != ".sqlite3"
            and not p.name.endswith(("-wal", "-shm"))}


def test_hostile_own_certificate_uploads_are_refused_clearly(app, client, runtime, inbox, year,
                                                             settings):
    link, document_ids, handed_out = _world(client, runtime, inbox)
    token = csrf_token(client.get(link).get_data(as_text=True))
    revisions = _revisions(runtime)
    files = _files(settings.instance_path)

    @FUZZ
    @given(data=st.data(), name=NAMES)
    def upload(data: st.DataObject, name: str) -> None:
        body = data.draw(hostile_pdf(handed_out))
        started = time.monotonic()
        response = client.post(f"{link}/upload", data={
            "csrf_token": token,
            **{f"document-{i}": (io.BytesIO(body), name) for i in document_ids}})
        assert time.monotonic() - started < TIME_LIMIT
        page = response.get_data(as_text=True)
        assert response.status_code in (413, 422), (response.status_code, page[:500])
        if response.status_code == 422:
            assert "role=\"alert\"" in page or "class=\"errors\"" in page or "upload" in page
        assert "<script>alert(1)</script>" not in page and "<img src=x" not in page

    upload()
    assert _revisions(runtime) == revisions
    assert _files(settings.instance_path) == files  # no upload's name became a file
    assert not Path("/tmp/owned.pdf").exists()


def test_hostile_verification_uploads_get_a_report_or_a_clear_refusal(app, client, runtime,
                                                                      settings):
    from tests.web.helpers import login, make_user

    make_user(runtime)
    login(client)
    token = csrf_token(client.get("/verify").get_data(as_text=True))
    files = _files(settings.instance_path)
    sample = build_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                        b"<< /Type /Pages /Kids [] /Count 0 >>"])

    @FUZZ
    @given(data=st.data(), name=NAMES, as_json=st.booleans())
    def verify(data: st.DataObject, name: str, as_json: bool) -> None:
        body = data.draw(hostile_pdf(sample))
        started = time.monotonic()
        response = client.post("/verify", data={"csrf_token": token, "file": (io.BytesIO(body),
                                                                              name)},
                               headers={"Accept": "application/json"} if as_json else {})
        assert time.monotonic() - started < TIME_LIMIT
        assert response.status_code in (200, 400, 413), response.status_code
        if response.status_code == 200 and as_json:
            report = response.get_json()
            assert report["indication"] != "TOTAL_PASSED"
        page = response.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page and "<img src=x" not in page

    verify()
    assert _files(settings.instance_path) == files


@pytest.mark.parametrize("path", ["/verify", "upload"])
def test_oversized_uploads_are_413_with_a_readable_page(app, client, runtime, inbox, year, path):
    from tests.web.helpers import login, make_user

    if path == "/verify":
        make_user(runtime)
        login(client)
        url, field = "/verify", "file"
    else:
        link, [document_id], _ = _world(client, runtime, inbox)
        url, field = f"{link}/upload", f"document-{document_id}"
    token = csrf_token(client.get("/login").get_data(as_text=True))
    big = b"%PDF-1.7\n" + b"0" * runtime.settings.max_upload_bytes
    response = client.post(url, data={"csrf_token": token, field: (io.BytesIO(big), "big.pdf")})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Bestand te groot" in page and "Er werd niets opgeslagen" in page


TEXT = st.one_of(st.text(max_size=300), st.sampled_from([
    "", " ", "\x00", "Zoë\x00Vermeulen", "<script>alert(1)</script>", "{{ 7*7 }}",
    "Zoë Vermeulen-D'Hondt\r\nBcc: x@y", "x" * 100_000, "ZOË  VERMEULEN-D’HONDT ", "é" * 5000]))


def test_hostile_signing_form_fields_never_break_the_page(app, client, runtime, inbox, year):
    link, _, _ = _world(client, runtime, inbox)
    token = csrf_token(client.get(link).get_data(as_text=True))
    revisions = _revisions(runtime)
    signed: list[str] = []

    @settings(FUZZ, max_examples=15)
    @given(name=TEXT, consent=st.one_of(st.none(), st.sampled_from(["yes", "no", "", "YES",
                                                                       "yes\x00", "1"]),
                                        st.text(max_size=20)),
           extra=st.dictionaries(st.sampled_from(["role", "signer", "document_id", "token"]),
                                 st.text(max_size=20), max_size=2))
    def sign(name: str, consent: str | None, extra: dict[str, str]) -> None:
        if signed:
            return  # a weird spelling of the right name signed: the rest is a closed form
        form = {"csrf_token": token, "full_name": name, **extra}
        if consent is not None:
            form["consent"] = consent
        response = client.post(link, data=form)
        page = response.get_data(as_text=True)
        assert response.status_code in (200, 422), (response.status_code, page[:500])
        assert "<script>alert(1)</script>" not in page
        if response.status_code == 200:
            signed.append(name)

    sign()
    assert _revisions(runtime) == revisions + len(signed)
    # Only the signer's own name, with consent, ever signs (however it is capitalised).
    for name in signed:
        assert " ".join(name.casefold().split()) in ("zoë vermeulen-d'hondt",
                                                     "zoë vermeulen-d’hondt")
