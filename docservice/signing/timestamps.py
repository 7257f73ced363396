"""RFC 3161 timestamps for signatures: an external HTTP TSA, or the dev PKI's in-process one.

`run_async` runs pyhanko's coroutines (signing, timestamping, validation) on a private loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from pyhanko.sign import general
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from docservice.config import SigningSettings
from docservice.signing.errors import SigningError
from docservice.signing.pki import Pki

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on a private event loop."""
    # Not asyncio.run: in the main thread it installs a SIGINT handler and, restoring it,
    # builds the repr of the finished task, result included; for an asn1crypto result that
    # repr re-serialises the whole structure (~20 ms for a CMS object).
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


class DevTimeStamper(TimeStamper):
    """The dev PKI's in-process RFC 3161 TSA (what pyhanko's DummyTimeStamper does, faster).

    The RSA key stays parsed and the constant parts (TSA name, certificate, ESS attribute,
    signer id) are encoded once: asn1crypto re-encodes a structure built from Python values
    at every dump, which made DummyTimeStamper cost ~10 ms per token.
    """

    POLICY = "1.3.6.1.4.1.4146.2.2"  # any policy will do for a development TSA

    def __init__(self, pki: Pki) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pyhanko leaves it untyped
        if pki.tsa is None:
            raise SigningError(f"the PKI in {pki.folder} has no timestamp authority key")
        cert = pki.tsa.certificate
        self.tsa_cert = cert
        self._key = pki.tsa.key
        self._tsa_name = asn1_x509.GeneralName(name="directory_name", value=cert.subject).dump()
        self._ess = simple_cms_attribute(
            "signing_certificate_v2", general.as_signing_certificate_v2(cert)).dump()
        self._sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}).dump()
        self._cert_der = cert.dump()

    def request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Answer one RFC 3161 request with a granted response (certReq is always honoured)."""
        md_algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"].native
        now = datetime.now(UTC)
        tst_info = tsp.TSTInfo({
            "version": "v1",
            "policy": self.POLICY,
            "message_imprint": tsp.MessageImprint.load(req["message_imprint"].dump()),
            "serial_number": int.from_bytes(os.urandom(16), "big"),
            "gen_time": now,
            "tsa": asn1_x509.GeneralName.load(self._tsa_name),
            **({"nonce": req["nonce"].native} if req["nonce"].native is not None else {}),
        }).dump()
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info)
        signed_attrs = cms.CMSAttributes.load(cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": now})),
            cms.CMSAttribute.load(self._ess),
            simple_cms_attribute("message_digest", digest.finalize()),
        ]).dump())
        signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(),
                                   get_pyca_cryptography_hash(md_algorithm))
        digest_algorithm = {"algorithm": md_algorithm}
        token = cms.ContentInfo({
            "content_type": "signed_data",
            "content": cms.SignedData({
                "version": "v3",
                "digest_algorithms": [digest_algorithm],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": cms.ParsableOctetString(tst_info),
                },
                "certificates": [asn1_x509.Certificate.load(self._cert_der)],
                "signer_infos": [cms.SignerInfo({
                    "version": "v1",
                    "sid": cms.SignerIdentifier.load(self._sid),
                    "digest_algorithm": digest_algorithm,
                    "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
                    "signed_attrs": signed_attrs,
                    "signature": signature,
                })],
            }),
        })
        response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
        # Re-loaded so that later dumps (the token is embedded, then dumped again) are free.
        return tsp.TimeStampResp.load(response.dump())

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.request_tsa_response(req)


def make_timestamper(pki: Pki, settings: SigningSettings) -> TimeStamper:
    """The external HTTP TSA when `settings.tsa_url` is set, else the PKI's in-process one."""
    if settings.tsa_url:
        auth = None
        if settings.tsa_username is not None:
            auth = (settings.tsa_username, settings.tsa_password or "")
        return HTTPTimeStamper(settings.tsa_url, timeout=settings.tsa_timeout, auth=auth)
    return DevTimeStamper(pki)
