"""The school's seal key: opened from a PKCS#12 file or a PKCS#11 token (an HSM)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers import Signer

from docservice.config import SealSettings
from docservice.signing.errors import SealUnavailable
from docservice.signing.keys import ParsedKeySigner
from docservice.signing.pki import Pki


class SchoolSeal:
    """The school's seal key, opened once: parsed from PKCS#12, or a PKCS#11 session kept open."""

    def __init__(self, pki: Pki, settings: SealSettings) -> None:
        self._pki = pki
        self._settings = settings
        self._lock = threading.RLock()
        self._signer: Signer | None = None
        self._session: Any = None

    @property
    def where(self) -> str:
        """A human description of where the key is (for errors and logs)."""
        s = self._settings
        if s.kind == "pkcs11":
            return f"PKCS#11 token {s.pkcs11_token_label!r} of {s.pkcs11_module}"
        return str(s.p12_path or (self._pki.seal.p12_path if self._pki.seal else "(no seal.p12)"))

    def signer(self) -> Signer:
        """The CMS signer for the seal, opening the key on first use."""
        with self._lock:
            return self._open()

    @contextmanager
    def in_use(self) -> Iterator[Signer]:
        """The seal's signer, held exclusively: a PKCS#11 session serves one thread at a time."""
        with self._lock:
            yield self._open()

    def _open(self) -> Signer:
        if self._signer is None:
            self._signer = (self._open_pkcs11() if self._settings.kind == "pkcs11"
                            else self._open_pkcs12())
        return self._signer

    def close(self) -> None:
        """Close the PKCS#11 session, if any; the next use opens a new one."""
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._session = None
            self._signer = None

    def _open_pkcs12(self) -> Signer:
        s = self._settings
        dev = self._pki.seal
        path = s.p12_path or (dev.p12_path if dev else None)
        if path is None:
            raise SealUnavailable(self.where, "no PKCS#12 file configured")
        try:
            if s.p12_password is not None:
                password = s.p12_password
            elif s.p12_password_file is not None:
                password = s.p12_password_file.read_text(encoding="utf-8").strip()
            elif dev is not None:
                password = dev.p12_password()
            else:
                raise SealUnavailable(self.where, "no PKCS#12 password configured")
            key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(),
                                                                 password.encode())
        except (OSError, ValueError) as e:
            raise SealUnavailable(self.where, f"cannot open: {e}") from e
        if cert is None or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise SealUnavailable(self.where, "the file lacks an EC or RSA key with its certificate")
        der = [c.public_bytes(serialization.Encoding.DER) for c in (cert, *extra)]
        certs = [asn1_x509.Certificate.load(d) for d in der]
        return ParsedKeySigner(key, certs[0], certs[1:])

    def _open_pkcs11(self) -> Signer:
        from pkcs11 import PKCS11Error, UserAlreadyLoggedIn
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

        s = self._settings
        if not (s.pkcs11_module and s.pkcs11_token_label and s.pkcs11_key_label):
            raise SealUnavailable(self.where, "module, token label and key label are all needed")
        chain = self._pkcs11_chain()
        criteria = TokenCriteria(label=s.pkcs11_token_label)
        try:
            try:
                session = open_pkcs11_session(str(s.pkcs11_module), token_criteria=criteria,
                                              user_pin=s.pkcs11_pin)
            except UserAlreadyLoggedIn:
                # PKCS#11 logs in per application: another session of this process already did.
                session = open_pkcs11_session(str(s.pkcs11_module), token_criteria=criteria)
        except (PKCS11Error, PyhankoSigningError, OSError, RuntimeError) as e:
            raise SealUnavailable(self.where, f"cannot open a session: {e!r}") from e
        signer = PKCS11Signer(
            session, key_label=s.pkcs11_key_label,
            cert_label=s.pkcs11_cert_label or s.pkcs11_key_label,
            ca_chain=chain,
        )
        try:
            cert = signer.signing_cert
        except (PKCS11Error, PyhankoSigningError) as e:
            session.close()
            raise SealUnavailable(self.where, f"key or certificate not found: {e}") from e
        # SoftHSM2 (and many HSMs) offer ECDSA only as the raw mechanism on a digest.
        signer.use_raw_mechanism = cert.public_key.algorithm == "ec"
        if s.pkcs11_chain_file is None and cert.issuer != self._pki.root.subject:
            session.close()
            raise SealUnavailable(self.where, "the seal is not issued by the PKI's root: "
                                  "name its CA certificates in the PKCS#11 chain file")
        self._session = session
        return signer

    def _pkcs11_chain(self) -> list[asn1_x509.Certificate]:
        chain_file = self._settings.pkcs11_chain_file
        if chain_file is None:
            return [self._pki.root]
        try:
            pems = x509.load_pem_x509_certificates(chain_file.read_bytes())
        except (OSError, ValueError) as e:
            raise SealUnavailable(self.where, f"cannot read the chain file {chain_file}: {e}") from e
        return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                for c in pems]
