"""A pyhanko CMS signer over an in-memory key that stays parsed: the fast path for signing."""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign import general
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from docservice.signing.errors import KeyDiscarded, SigningError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class ParsedKeySigner(Signer):
    """A CMS signer over a key parsed once (pyhanko's SimpleSigner re-parses it per signature).

    It also encodes its constant CMS parts once: asn1crypto re-encodes a structure built from
    Python values at every dump, and pyhanko dumps the signed attributes several times.
    """

    def __init__(self, key: PrivateKey,
                 certificate: asn1_x509.Certificate,
                 chain: Sequence[asn1_x509.Certificate]) -> None:
        certificate = asn1_x509.Certificate.load(certificate.dump())
        chain = [asn1_x509.Certificate.load(c.dump()) for c in chain]
        super().__init__(signing_cert=certificate,
                         cert_registry=SimpleCertificateStore.from_certs([certificate, *chain]))
        self._key: PrivateKey | None = key
        self._ess = simple_cms_attribute(
            "signing_certificate_v2", general.as_signing_certificate_v2(certificate)).dump()
        self._sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": certificate.issuer, "serial_number": certificate.serial_number})}).dump()

    async def signed_attrs(self, data_digest: bytes, digest_algorithm: str,
                           attr_settings: PdfCMSSignedAttributes | None = None,
                           content_type: str = "data", use_pades: bool = False,
                           timestamper: TimeStamper | None = None, dry_run: bool = False,
                           is_pdf_sig: bool = True) -> cms.CMSAttributes:
        plain_pades = (use_pades and is_pdf_sig and content_type == "data"
                       and self.signed_attr_prov_spec is None
                       and (attr_settings is None or attr_settings.cades_signed_attrs is None))
        if not plain_pades:
            return await super().signed_attrs(
                data_digest, digest_algorithm, attr_settings=attr_settings,
                content_type=content_type, use_pades=use_pades, timestamper=timestamper,
                dry_run=dry_run, is_pdf_sig=is_pdf_sig)
        # What pyhanko 0.38's CAdES provider spec yields for PAdES (no signing-time: PAdES
        # forbids it), from pieces encoded once.
        return cms.CMSAttributes.load(cms.CMSAttributes([
            simple_cms_attribute("content_type", content_type),
            simple_cms_attribute("message_digest", data_digest),
            cms.CMSAttribute.load(self._ess),
        ]).dump())

    def signer_info(self, digest_algorithm: str, signed_attrs: cms.CMSAttributes,
                    signature: bytes) -> cms.SignerInfo:
        return cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier.load(self._sid),
            "digest_algorithm": {"algorithm": digest_algorithm},
            "signature_algorithm": self.get_signature_mechanism_for_digest(digest_algorithm),
            "signed_attrs": signed_attrs,
            "signature": signature,
        })

    async def async_sign_raw(self, data: bytes, digest_algorithm: str,
                             dry_run: bool = False) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algorithm = mechanism.signature_algo
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        key = self._key
        if key is None:
            raise KeyDiscarded(self.subject_name or "signer")
        if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algo))
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hash_algo)
        if algorithm == "rsassa_pss" and isinstance(key, rsa.RSAPrivateKey):
            pss, pss_hash = process_pss_params(mechanism["parameters"])
            return key.sign(data, pss, pss_hash)
        raise SigningError(f"cannot sign with {algorithm} using a {type(key).__name__}")

    def forget_key(self) -> None:
        """Drop the reference to the private key; later signatures raise KeyDiscarded."""
        self._key = None
