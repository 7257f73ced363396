"""Signing with one's own certificate: externally signed uploads accepted only when exact."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from docservice import create_app
from docservice.db import unit_of_work
from docservice.models import Envelope, ExternalSignature, Placement, Revision
from docservice.signing.verify import verify_pdf
from tests.signing.verify import attacks
from tests.signing.verify.tamper import add_free_text_annotation
from tests.web.helpers import csrf_token
from tests.web.test_signing_flow import (
    COMPANY,
    COORDINATOR,
    STUDENT,
    _open_envelope,
    _prepare,
    _sign,
    _sign_link,
)

ROOT_NAME = "External Test Root CA"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "BE")])


def _certificate(subject: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, *,
                 ca: bool) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(hours=1)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=not ca, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                   encipher_only=False, decipher_only=False), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


class ExternalCa:
    """A CA that is not ours, whose root the service is configured to trust (or not)."""

    def __init__(self, folder: Path, name: str = ROOT_NAME) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.root = _certificate(self.name, self.key, self.name, self.key, ca=True)
        self.root_pem = folder / "root.pem"
        self.root_pem.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))

    def signer(self, common_name: str, *, rsa_key: bool = False) -> tuple[Path, Path, Path]:
        """PEM key and certificate of a person, and a PKCS#12 with both (password 'pw')."""
        # poppler 22's pdfsig -sign fails with EC keys ("unable update signature"): RSA for it.
        key: Any = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key
                    else ec.generate_private_key(ec.SECP256R1()))
        cert = _certificate(_name(common_name), key, self.name, self.key, ca=False)
        slug = re.sub(r"\W+", "-", common_name.lower())
        key_pem, cert_pem, p12 = (self.folder / f"{slug}.key.pem", self.folder / f"{slug}.pem",
                                  self.folder / f"{slug}.p12")
        key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        p12.write_bytes(pkcs12.serialize_key_and_certificates(
            slug.encode(), key, cert, [self.root],
            serialization.BestAvailableEncryption(b"pw")))
        return key_pem, cert_pem, p12


@pytest.fixture(scope="module")
def external_ca(tmp_path_factory: pytest.TempPathFactory) -> ExternalCa:
    return ExternalCa(tmp_path_factory.mktemp("external-ca"))


@pytest.fixture
def upload_app(settings, converter, external_ca: ExternalCa, app) -> Iterator[Any]:
    """The app trusting the external CA's root besides its own PKI."""
    signatures = replace(settings.signatures, trust_roots_file=external_ca.root_pem)
    trusting = create_app({"TESTING": True}, settings=replace(settings, signatures=signatures))
    rt = trusting.extensions["docservice"]
    rt.use_converter(converter)
    yield trusting
    rt.use_converter(None)
    rt.close()


def _sign_with_pyhanko_cli(source: Path, target: Path, field: str, key: Path, cert: Path,
                           chain: Path) -> None:
    subprocess.run([str(Path(__import__("sys").executable).parent / "pyhanko"), "sign", "addsig",
                    "--field", field, "--existing-only", "--use-pades", "pemder",
                    "--key", str(key), "--cert", str(cert), "--chain", str(chain), "--no-pass",
                    str(source), str(target)], check=True, capture_output=True, timeout=120)


def _sign_with_pdfsig(source: Path, target: Path, field: str, p12: Path, nick: str,
                      folder: Path) -> None:
    nss = folder / "nss-signer"
    nss.mkdir(exist_ok=True)
    if not (nss / "cert9.db").exists():
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True,
                       capture_output=True)
        subprocess.run(["pk12util", "-i", str(p12), "-d", f"sql:{nss}", "-W", "pw"], check=True,
                       capture_output=True)
    subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", "-sign", field, "-nick", nick,
                    str(source), str(target)], check=True, capture_output=True, timeout=120)


def _company_link_after_student(client, rt, inbox) -> tuple[str, int]:
    placement_id = _prepare(client, rt)
    _open_envelope(client, placement_id)
    _sign(client, _sign_link(inbox, STUDENT), "Zoë Vermeulen-D'Hondt")
    return _sign_link(inbox, COMPANY), placement_id


def _download_all(client, link: str) -> dict[int, bytes]:
    html = client.get(link).get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'name="document-(\d+)"', html)]
    return {i: client.get(f"{link}/documents/{i}.pdf").data for i in ids}


def _upload(client, link: str, files: dict[int, bytes]):
    data: dict[str, Any] = {"csrf_token": csrf_token(client.get(link).get_data(as_text=True))}
    for document_id, pdf in files.items():
        data[f"document-{document_id}"] = (io.BytesIO(pdf), f"signed-{document_id}.pdf")
    return client.post(f"{link}/upload", data=data, content_type="multipart/form-data")


def _sign_all(files: dict[int, bytes], tmp: Path, sign) -> dict[int, bytes]:
    signed = {}
    for document_id, pdf in files.items():
        source, target = tmp / f"in-{document_id}.pdf", tmp / f"out-{document_id}.pdf"
        source.write_bytes(pdf)
        sign(source, target)
        signed[document_id] = target.read_bytes()
    return signed


def _revisions(rt) -> int:
    with unit_of_work(rt.db) as session:
        return session.scalar(select(func.count()).select_from(Revision))


def test_upload_signed_with_pyhanko_cli_is_accepted_and_the_order_goes_on(
        upload_app, inbox, year, external_ca, tmp_path: Path):
    client, rt = upload_app.test_client(), upload_app.extensions["docservice"]
    link, placement_id = _company_link_after_student(client, rt, inbox)
    key, cert, _ = external_ca.signer("Els Janssens")
    signed = _sign_all(_download_all(client, link), tmp_path, lambda s, t: _sign_with_pyhanko_cli(
        s, t, "Signature_company", key, cert, external_ca.root_pem))
    before = _revisions(rt)
    response = _upload(client, link, signed)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    assert 'id="signed"' in response.get_data(as_text=True)
    assert _revisions(rt) == before + 3
    assert inbox.to(COORDINATOR), "the school is asked to approve next"
    with unit_of_work(rt.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        company = envelope.request_for("company")
        assert company.status == "signed" and "External Test Root" not in company.certificate_subject
        for document in session.get(Placement, placement_id).current_documents():
            pdf = rt.blobs.get(document.current_revision.sha256)
            report = verify_pdf(pdf, trust=rt.trust)
            assert report.passed, report.reasons
            signers = [s.signer_name for s in report.signatures if s.kind == "signature"]
            assert signers == ["Zoë Vermeulen-D'Hondt", "Els Janssens"]


def test_upload_signed_with_pdfsig_is_accepted(upload_app, inbox, year, external_ca, tmp_path: Path):
    client, rt = upload_app.test_client(), upload_app.extensions["docservice"]
    link, _ = _company_link_after_student(client, rt, inbox)
    _, _, p12 = external_ca.signer("Els Janssens", rsa_key=True)
    signed = _sign_all(_download_all(client, link), tmp_path, lambda s, t: _sign_with_pdfsig(
        s, t, "Signature_company", p12, "els-janssens", tmp_path))
    response = _upload(client, link, signed)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    assert 'id="signed"' in response.get_data(as_text=True)


def test_wrong_field_stale_revision_extra_changes_and_untrusted_ca_are_refused(
        upload_app, inbox, year, external_ca, tmp_path: Path):
    client, rt = upload_app.test_client(), upload_app.extensions["docservice"]
    link, _ = _company_link_after_student(client, rt, inbox)
    key, cert, _ = external_ca.signer("Els Janssens")
    current = _download_all(client, link)
    before = _revisions(rt)

    def refused(files: dict[int, bytes], expected: str) -> None:
        response = _upload(client, link, files)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, page[-2000:]
        assert "Niet aanvaard; er werd niets opgeslagen" in page
        assert expected in page, page[page.find("Niet aanvaard"):][:3000]
        assert _revisions(rt) == before

    wrong_field = _sign_all(current, tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path,
                            lambda s, t: _sign_with_pyhanko_cli(s, t, "Signature_school", key, cert,
                                                                external_ca.root_pem))
    refused(wrong_field, "de nieuwe handtekening moet in het veld Signature_company staan")

    # Signing the document as it was before the student signed: a stale revision.
    with unit_of_work(rt.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        stale = {d.id: rt.blobs.get(d.revisions[0].sha256) for d in envelope.documents}
    (tmp_path / "b").mkdir()
    refused(_sign_all(stale, tmp_path / "b", lambda s, t: _sign_with_pyhanko_cli(
        s, t, "Signature_company", key, cert, external_ca.root_pem)),
        "dit is niet het uitgereikte document met één handtekening erbij")  # the signer's Dutch

    (tmp_path / "c").mkdir()
    good = _sign_all(current, tmp_path / "c", lambda s, t: _sign_with_pyhanko_cli(
        s, t, "Signature_company", key, cert, external_ca.root_pem))
    annotated = {i: add_free_text_annotation(pdf) for i, pdf in good.items()}
    refused(annotated, "annotation")

    # A correctly signed revision that also carries an update two readers resolve apart:
    # the document's /Info pointed at page 1's content, which the update rewrites.
    (tmp_path / "e").mkdir()
    hijacked = {i: attacks.point_role_at_content(pdf, "info") for i, pdf in current.items()}
    refused(_sign_all(hijacked, tmp_path / "e", lambda s, t: _sign_with_pyhanko_cli(
        s, t, "Signature_company", key, cert, external_ca.root_pem)),
        "changes the content of page 1")

    stranger_ca = ExternalCa(tmp_path / "stranger", "Unknown CA")
    skey, scert, _ = stranger_ca.signer("Els Janssens")
    (tmp_path / "d").mkdir()
    refused(_sign_all(current, tmp_path / "d", lambda s, t: _sign_with_pyhanko_cli(
        s, t, "Signature_company", skey, scert, stranger_ca.root_pem)), "trust")


def test_a_certificate_in_another_name_waits_for_the_coordinator(
        upload_app, inbox, year, external_ca, tmp_path: Path):
    client, rt = upload_app.test_client(), upload_app.extensions["docservice"]
    link, placement_id = _company_link_after_student(client, rt, inbox)
    key, cert, _ = external_ca.signer("Bart Janssens")  # the managing director, not Els
    signed = _sign_all(_download_all(client, link), tmp_path, lambda s, t: _sign_with_pyhanko_cli(
        s, t, "Signature_company", key, cert, external_ca.root_pem))
    before = _revisions(rt)
    response = _upload(client, link, signed)
    assert response.status_code == 200 and 'id="awaiting"' in response.get_data(as_text=True)
    assert _revisions(rt) == before
    [notice] = inbox.to(COORDINATOR)
    assert "Bart Janssens" in notice.get_content() and "Els Janssens" in notice.get_content()

    page = f"/coordinator/placements/{placement_id}"
    html = client.get(page, follow_redirects=True).get_data(as_text=True)
    assert 'id="awaiting-uploads"' in html and "Bart Janssens" in html
    [upload_id] = re.findall(r'data-upload="([0-9a-f]{32})"', html)
    response = client.post(f"{page}/envelope/external/accept",
                           data={"csrf_token": csrf_token(html), "upload": upload_id})
    assert response.status_code == 302
    assert _revisions(rt) == before + 3
    with unit_of_work(rt.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        assert envelope.request_for("company").status == "signed"
        assert envelope.request_for("school").status == "pending"
        assert {e.status for e in session.scalars(select(ExternalSignature))} == {"accepted"}


def test_a_newer_upload_supersedes_and_acceptance_names_one_upload(
        upload_app, inbox, year, external_ca, tmp_path: Path):
    client, rt = upload_app.test_client(), upload_app.extensions["docservice"]
    link, placement_id = _company_link_after_student(client, rt, inbox)
    handed_out = _download_all(client, link)
    signed: dict[str, dict[int, bytes]] = {}
    for name in ("Bart Janssens", "Piet Peeters"):  # two certificates, neither Els's
        key, cert, _ = external_ca.signer(name)
        folder = tmp_path / name.split()[0]
        folder.mkdir()
        signed[name] = _sign_all(handed_out, folder, lambda s, t, k=key, c=cert:
                                 _sign_with_pyhanko_cli(s, t, "Signature_company", k, c,
                                                        external_ca.root_pem))
        response = _upload(client, link, signed[name])
        assert response.status_code == 200 and 'id="awaiting"' in response.get_data(as_text=True)
    # One upload of documents signed with two certificates is refused as a whole.
    first, *rest = sorted(handed_out)
    mixed = {first: signed["Bart Janssens"][first],
             **{i: signed["Piet Peeters"][i] for i in rest}}
    response = _upload(client, link, mixed)
    assert response.status_code == 422
    assert "onderteken elk document met hetzelfde certificaat" in response.get_data(as_text=True)

    with unit_of_work(rt.db) as session:
        rows = session.scalars(select(ExternalSignature).order_by(ExternalSignature.id)).all()
        uploads = {r.signer_name: r.upload_id for r in rows}
        statuses = {r.signer_name: r.status for r in rows}
        piet_files = {r.sha256 for r in rows if r.signer_name == "Piet Peeters"}
    assert len(rows) == 6 and len(set(uploads.values())) == 2
    assert statuses == {"Bart Janssens": "superseded", "Piet Peeters": "awaiting_confirmation"}

    # The coordinator sees the newer upload alone, with its id and each file's SHA-256.
    page = f"/coordinator/placements/{placement_id}"
    html = client.get(page, follow_redirects=True).get_data(as_text=True)
    section = html[html.index('id="awaiting-uploads"'):][:6000]
    assert re.findall(r'data-upload="([0-9a-f]{32})"', html) == [uploads["Piet Peeters"]]
    assert uploads["Piet Peeters"] in section and "Piet Peeters" in section
    assert "Bart Janssens" not in section
    assert all(sha in section for sha in piet_files)
    token = csrf_token(html)
    before = _revisions(rt)

    accept = f"{page}/envelope/external/accept"
    # The replaced upload can no longer be accepted; an acceptance must name an upload.
    response = client.post(accept, data={"csrf_token": token, "upload": uploads["Bart Janssens"]})
    assert response.status_code == 409, response.get_data(as_text=True)[-1500:]
    assert client.post(accept, data={"csrf_token": token}).status_code == 422
    assert _revisions(rt) == before

    response = client.post(accept, data={"csrf_token": token, "upload": uploads["Piet Peeters"]})
    assert response.status_code == 302
    assert _revisions(rt) == before + 3
    with unit_of_work(rt.db) as session:
        company = session.scalars(select(Envelope)).one().request_for("company")
        assert company.status == "signed" and company.signed_name == "Piet Peeters"
        assert "Piet Peeters" in company.certificate_subject
        # The record and the stored revisions come from the same upload.
        for document in session.get(Placement, placement_id).current_documents():
            report = verify_pdf(rt.blobs.get(document.current_revision.sha256), trust=rt.trust)
            signers = [s.signer_name for s in report.signatures if s.kind == "signature"]
            assert signers[-1] == company.signed_name, signers
        assert {(r.signer_name, r.status) for r in session.scalars(select(ExternalSignature))} == {
            ("Bart Janssens", "superseded"), ("Piet Peeters", "accepted")}
    # Decided: neither can be accepted again.
    response = client.post(accept, data={"csrf_token": token, "upload": uploads["Piet Peeters"]})
    assert response.status_code == 409
