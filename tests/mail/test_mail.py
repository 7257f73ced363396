"""Mail against a real SMTP server on localhost: STARTTLS, implicit TLS, login, after-commit sending.

The server's certificate comes from a CA made in the test; the client trusts it the way a
deployment would, through `SSL_CERT_FILE`, so the product's verifying
`ssl.create_default_context()` is exercised unchanged.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docservice.config import MailSettings
from docservice.db import Database, unit_of_work
from docservice.mail import delivery as mail
from docservice.mail.devserver import free_port

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "docservice@school.example.org", "s3cret passphrase"
SENDER = "Stagebureau <stages@school.example.org>"
TO = "zoe.vermeulen@student.example.org"
SUBJECT = "Te ondertekenen: stagedocumenten van Zoë Vermeulen-D'Hondt"
BODY = "Beste Zoë,\n\nOnderteken uiterlijk op 15/12/2023.\nhttps://stages.example.be/sign/abc\n"


# --- a test CA and a server certificate for 127.0.0.1 / localhost --------------------------------

@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "docservice tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("smtp-pki")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("docservice test mail CA")).issuer_name(_name("docservice test mail CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return pki


@pytest.fixture
def trust_test_ca(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `ssl.create_default_context()` trust the test CA (and only it)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(pki.ca_file.parent / "no-such-dir"))


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


# --- a real SMTP server that records what happened ----------------------------------------------

@dataclass
class Recorder:
    """aiosmtpd handler: the messages, who logged in how, whether each message came over TLS."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    over_tls: list[bool] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # (mechanism, user, ok)
    greetings: int = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(  # type: ignore[arg-type]
            envelope.original_content or envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        self.over_tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (user, password) == (USER, PASSWORD)
        self.logins.append((mechanism, user, ok))
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(recorder: Recorder, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _message(**overrides: str) -> mail.Message:
    return mail.Message(**{"to": TO, "subject": SUBJECT, "body": BODY, **overrides})


def _assert_is_our_message(received: EmailMessage) -> None:
    assert received["From"] == SENDER
    assert received["To"] == TO
    assert received["Subject"] == SUBJECT
    assert received.get_content().replace("\r\n", "\n") == BODY  # SMTP's lines end in CRLF
    assert received["Message-ID"].endswith("@docservice>")
    sent_at = parsedate_to_datetime(received["Date"])
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)


# --- (a) STARTTLS and login ----------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_starttls_with_login_delivers_the_message(pki: Pki, trust_test_ca: None,
                                                  mechanism: str) -> None:
    recorder = Recorder()
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    with smtp_server(recorder, tls_context=_server_context(pki), require_starttls=True,
                     authenticator=recorder.authenticate, auth_required=True,
                     auth_exclude_mechanism=[other]) as port:
        sender = mail.SmtpSender(MailSettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_security="starttls", smtp_user=USER,
            smtp_password=PASSWORD, sender=SENDER, timeout=10))
        sender.send(_message())

    assert recorder.logins == [(mechanism, USER, True)]
    assert recorder.over_tls == [True]
    assert recorder.recipients == [[TO]]
    [received] = recorder.messages
    _assert_is_our_message(received)


def test_starttls_with_wrong_password_raises_and_sends_nothing(pki: Pki,
                                                               trust_test_ca: None) -> None:
    recorder = Recorder()
    with smtp_server(recorder, tls_context=_server_context(pki), require_starttls=True,
                     authenticator=recorder.authenticate, auth_required=True) as port:
        sender = mail.SmtpSender(MailSettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_security="starttls", smtp_user=USER,
            smtp_password="wrong", sender=SENDER, timeout=10))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            sender.send(_message())

    assert recorder.logins and not any(ok for _, _, ok in recorder.logins)
    assert recorder.messages == []


def test_starttls_refuses_a_server_certificate_it_does_not_trust(pki: Pki) -> None:
    """Without the test CA in the trust store the handshake fails: verification is on."""
    recorder = Recorder()
    with smtp_server(recorder, tls_context=_server_context(pki), require_starttls=True) as port:
        sender = mail.SmtpSender(MailSettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_security="starttls", sender=SENDER,
            timeout=10))
        with pytest.raises(ssl.SSLCertVerificationError):
            sender.send(_message())
    assert recorder.messages == []


# --- (b) implicit TLS ------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_ssl_with_login_delivers_the_message(pki: Pki, trust_test_ca: None) -> None:
    recorder = Recorder()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; on an SMTPS socket the whole session is TLS.
    with smtp_server(recorder, ssl_context=_server_context(pki),
                     authenticator=recorder.authenticate, auth_required=True,
                     auth_require_tls=False) as port:
        sender = mail.SmtpSender(MailSettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_security="ssl", smtp_user=USER,
            smtp_password=PASSWORD, sender=SENDER, timeout=10))
        sender.send(_message())

    assert [ok for _, _, ok in recorder.logins] == [True]
    assert recorder.over_tls == [True]
    [received] = recorder.messages
    _assert_is_our_message(received)


def test_implicit_ssl_refuses_an_untrusted_certificate(pki: Pki) -> None:
    recorder = Recorder()
    with smtp_server(recorder, ssl_context=_server_context(pki)) as port:
        sender = mail.SmtpSender(MailSettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_security="ssl", sender=SENDER,
            timeout=10))
        with pytest.raises(ssl.SSLCertVerificationError):
            sender.send(_message())
    assert recorder.messages == []


# --- (c) queued mail leaves only after the commit ------------------------------------------------

@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'mail.sqlite3'}")
    with db.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT)"))
    yield db
    db.dispose()


class CommittedCheckingSender:
    """Delegates to a real sender, noting whether the unit of work's row was already committed."""

    def __init__(self, inner: mail.Sender, db: Database) -> None:
        self.inner = inner
        self.db = db
        self.committed_at_send: list[bool] = []

    def send(self, message: mail.Message) -> None:
        with self.db.engine.connect() as other_connection:  # sees committed data only
            count = other_connection.scalar(sa.text("SELECT count(*) FROM note"))
        self.committed_at_send.append(count == 1)
        self.inner.send(message)


def _plain_sender(port: int) -> mail.SmtpSender:
    return mail.SmtpSender(MailSettings(smtp_host="127.0.0.1", smtp_port=port, sender=SENDER,
                                        timeout=10))


def test_queued_mail_is_sent_after_the_commit(database: Database) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        sender = CommittedCheckingSender(_plain_sender(port), database)
        with unit_of_work(database) as session:
            session.execute(sa.text("INSERT INTO note (text) VALUES ('invited')"))
            mail.queue(session, sender, _message())
            assert recorder.messages == [], "nothing leaves before the commit"
        assert sender.committed_at_send == [True]
    [received] = recorder.messages
    _assert_is_our_message(received)


def test_queued_mail_of_a_failed_unit_of_work_is_never_sent(database: Database) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        sender = CommittedCheckingSender(_plain_sender(port), database)
        with pytest.raises(RuntimeError, match="boom"), unit_of_work(database) as session:
            session.execute(sa.text("INSERT INTO note (text) VALUES ('invited')"))
            mail.queue(session, sender, _message())
            raise RuntimeError("boom")
        # The next unit of work on a fresh session must not carry the discarded message along.
        with unit_of_work(database) as session:
            session.execute(sa.text("SELECT 1"))
    assert sender.committed_at_send == []
    assert recorder.messages == [] and recorder.greetings == 0
    with database.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM note")) == 0


def test_a_mail_server_that_is_down_does_not_undo_the_commit(
        database: Database, caplog: pytest.LogCaptureFixture) -> None:
    sender = _plain_sender(free_port())  # nobody listens there
    with caplog.at_level(logging.ERROR, logger="docservice.mail.delivery"), \
            unit_of_work(database) as session:
        session.execute(sa.text("INSERT INTO note (text) VALUES ('invited')"))
        mail.queue(session, sender, _message())
    with database.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM note")) == 1
    assert any(f"mail to {TO} failed" in r.getMessage() for r in caplog.records)


# --- (d) header injection -----------------------------------------------------------------------

@pytest.mark.parametrize("overrides", [
    {"to": "a@b.org\r\nBcc: x@evil.org"},
    {"to": "a@b.org\nBcc: x@evil.org"},
    {"subject": "Hallo\r\nBcc: x@evil.org"},
])
def test_header_injection_is_refused_before_anything_is_sent(
        database: Database, overrides: dict[str, str]) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        sender = _plain_sender(port)
        with pytest.raises(ValueError, match="line break"), unit_of_work(database) as session:
            session.execute(sa.text("INSERT INTO note (text) VALUES ('invited')"))
            mail.queue(session, sender, _message(**overrides))
        with pytest.raises(ValueError):
            sender.send(_message(**overrides))
    assert recorder.messages == [] and recorder.recipients == []
    with database.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM note")) == 0, "rolled back"


# --- (e) the outbox folder ----------------------------------------------------------------------

def test_outbox_sender_writes_an_eml_file(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    mail.OutboxSender(folder, SENDER).send(_message())
    mail.OutboxSender(folder, SENDER).send(_message(to="els@janssens.example.com"))

    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
              for f in files]
    by_recipient = {m["To"]: m for m in parsed}
    assert set(by_recipient) == {TO, "els@janssens.example.com"}
    _assert_is_our_message(by_recipient[TO])  # type: ignore[arg-type]
    assert by_recipient[TO]["Message-ID"] != by_recipient["els@janssens.example.com"]["Message-ID"]
    raw = files[0].read_bytes()
    assert b"\r\nBcc" not in raw and b"\nBcc" not in raw


def test_make_sender_chooses_smtp_only_when_a_host_is_set(tmp_path: Path) -> None:
    assert isinstance(mail.make_sender(MailSettings(), tmp_path), mail.OutboxSender)
    assert isinstance(mail.make_sender(MailSettings(smtp_host="127.0.0.1"), tmp_path),
                      mail.SmtpSender)
