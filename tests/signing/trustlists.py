"""A throwaway qualified PKI and an ETSI TS 119 612 trusted list that names it, signed (XAdES).

`QualifiedPki` is a CA/QC root, a scheme operator who signs the list, and qualified signer
certificates (QcCompliance, QcSSCD, QcType) with their CRL; `trusted_list_xml` writes a list
naming the CA with the status history asked for and signs it as a scheme operator does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from pyhanko.sign.ades import qualified_asn1

CRL_URL = "http://crl.qualified.invalid/qca.crl"
TSL = "http://uri.etsi.org/02231/v2#"
STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
FOR_ESIGNATURES = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/ForeSignatures"
QC_STATEMENTS_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _name(cn: str, country: str = "BE") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Qualified Test TSP"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def qc_statements(*, compliance: bool = True, sscd: bool = True, qc_type: str | None = "qct_esign"
                  ) -> x509.UnrecognizedExtension:
    """The QcStatements extension of an EU qualified certificate (EN 319 412-5)."""
    statements = []
    if compliance:
        statements.append({"statement_id": "qc_compliance"})
    if sscd:
        statements.append({"statement_id": "qc_sscd"})
    if qc_type:
        statements.append({"statement_id": "qc_type",
                           "statement_info": qualified_asn1.QcCertificateType([qc_type])})
    return x509.UnrecognizedExtension(QC_STATEMENTS_OID,
                                      qualified_asn1.QcStatements(statements).dump())


@dataclass
class QualifiedPki:
    """A CA/QC root, the list's scheme operator, and signers with qualified certificates."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        start = self.now - timedelta(days=800)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = _name("Qualified Test Citizen CA")
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                False, False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                       self.ca_key.public_key()), critical=False)
                   .sign(self.ca_key, hashes.SHA256()))
        self.tlso_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tlso_name = _name("Test Trusted List Scheme Operator")
        self.tlso = (x509.CertificateBuilder().subject_name(tlso_name).issuer_name(tlso_name)
                     .public_key(self.tlso_key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
                     .add_extension(x509.KeyUsage(True, True, False, False, False, False, False,
                                                  False, False), critical=True)
                     .sign(self.tlso_key, hashes.SHA256()))
        self.crl = (x509.CertificateRevocationListBuilder().issuer_name(name)
                    .last_update(self.now - timedelta(hours=1))
                    .next_update(self.now + timedelta(days=7))
                    .sign(self.ca_key, hashes.SHA256()))

    @property
    def ca_asn1(self) -> asn1_x509.Certificate:
        return _asn1(self.ca)

    @property
    def tlso_asn1(self) -> asn1_x509.Certificate:
        return _asn1(self.tlso)

    @property
    def crl_asn1(self) -> asn1_crl.CertificateList:
        return asn1_crl.CertificateList.load(self.crl.public_bytes(serialization.Encoding.DER))

    def signer(self, common_name: str, *, statements: x509.UnrecognizedExtension | None = None
               ) -> tuple[Any, x509.Certificate]:
        """A signer's key and its (qualified, unless `statements` says otherwise) certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
                             x509.NameAttribute(NameOID.GIVEN_NAME, common_name.split()[0]),
                             x509.NameAttribute(NameOID.SURNAME, common_name.split()[-1]),
                             x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(self.now - timedelta(days=30))
                .not_valid_after(self.now + timedelta(days=700))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, True, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.ca_key.public_key()), critical=False)
                .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(CRL_URL)], None, None, None)]),
                    critical=False)
                .add_extension(statements or qc_statements(), critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        return key, cert


def _el(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{TSL}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _names(parent: Any, name: str, value: str) -> None:
    _el(_el(parent, name), "Name", value, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})


def _service_info(parent: Any, tag: str, ca: x509.Certificate, status: str, since: datetime,
                  *, history: bool = False) -> None:
    info = _el(parent, tag)
    _el(info, "ServiceTypeIdentifier", CA_QC)
    _names(info, "ServiceName", "Qualified Test Citizen CA")
    identity = _el(info, "ServiceDigitalIdentity")
    if history:
        _el(_el(identity, "DigitalId"), "X509SKI", base64.b64encode(
            x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest).decode())
    else:
        _el(_el(identity, "DigitalId"), "X509Certificate", base64.b64encode(
            ca.public_bytes(serialization.Encoding.DER)).decode())
    _el(info, "ServiceStatus", STATUS + status)
    _el(info, "StatusStartingTime", since.strftime("%Y-%m-%dT%H:%M:%SZ"))
    extension = _el(_el(info, "ServiceInformationExtensions"), "Extension", Critical="true")
    additional = _el(extension, "AdditionalServiceInformation")
    _el(additional, "URI", FOR_ESIGNATURES, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})


def trusted_list_xml(pki: QualifiedPki, *, history: list[tuple[str, datetime]],
                     territory: str = "BE", sequence: int = 7, sign: bool = True) -> bytes:
    """A member state's list naming `pki.ca` with `history` [(status, since), ...] (the last is
    the current one), signed by the scheme operator (enveloped XAdES, as ETSI TS 119 612)."""
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", nsmap={None: TSL},
                         TSLTag="http://uri.etsi.org/19612/TSLTag", Id="tsl")
    scheme = _el(root, "SchemeInformation")
    _el(scheme, "TSLVersionIdentifier", "5")
    _el(scheme, "TSLSequenceNumber", str(sequence))
    _el(scheme, "TSLType", "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric")
    _names(scheme, "SchemeOperatorName", "Test Supervisory Body")
    _el(scheme, "SchemeTerritory", territory)
    _el(scheme, "ListIssueDateTime", pki.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    _el(_el(scheme, "NextUpdate"), "dateTime",
        (pki.now + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tsp = _el(_el(root, "TrustServiceProviderList"), "TrustServiceProvider")
    _names(_el(tsp, "TSPInformation"), "TSPName", "Qualified Test TSP")
    service = _el(_el(tsp, "TSPServices"), "TSPService")
    current_status, current_since = history[-1]
    _service_info(service, "ServiceInformation", pki.ca, current_status, current_since)
    if len(history) > 1:
        past = _el(service, "ServiceHistory")
        for status, since in reversed(history[:-1]):
            _service_info(past, "ServiceHistoryInstance", pki.ca, status, since, history=True)
    if not sign:
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]
    from signxml import DigestAlgorithm, SignatureMethod, methods
    from signxml.xades import XAdESSigner

    signer = XAdESSigner(method=methods.enveloped, signature_algorithm=SignatureMethod.RSA_SHA256,
                         digest_algorithm=DigestAlgorithm.SHA256)
    signed = signer.sign(root, key=pki.tlso_key, cert=[pki.tlso], reference_uri="#tsl")
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]
