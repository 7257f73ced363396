"""Validation reports in ETSI TS 119 102-2 XML, which auditors' tools read (EU DSS and others).

Written with the generated bindings pyhanko ships (`pyhanko.generated.etsi.ts_11910202`, the
`pyhanko[etsi]` extra) from the verification engine's verdict: no second validation runs. One
SignatureValidationReport per signature: its identifier (signature value, digest of the signed
attributes), the digest of the signed bytes, the signed attributes as pyhanko summarises them,
the signer's certificate, the qualification (ETSI TS 119 172-4 level, as a URI), the process
and the indication. The certificates and document timestamps of the file are validation
objects. `check_report` parses a report back into the bindings and checks it against a PDF.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from asn1crypto import cms

from docservice.domain import sha256_hex

if TYPE_CHECKING:
    from xsdata.formats.dataclass.context import XmlContext

NAMESPACES = {"vr": "http://uri.etsi.org/19102/v1.2.1#",
              "XAdES": "http://uri.etsi.org/01903/v1.3.2#",
              "ds": "http://www.w3.org/2000/09/xmldsig#"}
_INDICATIONS = {"TOTAL_PASSED": "total-passed", "TOTAL_FAILED": "total-failed",
                "INDETERMINATE": "indeterminate"}
_DIGESTS = {"sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
            "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
            "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
            "sha1": "http://www.w3.org/2000/09/xmldsig#sha1"}
_DIGEST_NAMES = {uri: name for name, uri in _DIGESTS.items()}


class EtsiReportError(ValueError):
    """A report that is not an ETSI TS 119 102-2 report of the PDF it is checked against."""


def etsi_validation_report(pdf: bytes, signatures: Sequence[Mapping[str, Any]], *,
                           validation_time: datetime) -> bytes:
    """The ETSI TS 119 102-2 report (UTF-8 XML) of `pdf`, from the engine's verdicts
    (`Report.to_json()["signatures"]`) as of `validation_time`."""
    from pyhanko.generated.etsi import ts_11910202 as vr
    from pyhanko.pdf_utils.reader import PdfFileReader
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    by_field = {s.get("field_name"): s for s in signatures}
    reports = []
    objects: dict[str, Any] = {}
    for embedded in reader.embedded_signatures:
        verdict = by_field.get(embedded.field_name)
        if verdict is None:
            continue
        for cert in embedded.signed_data["certificates"]:
            if cert.name == "certificate":
                _add_object(objects, "certificate", cert.chosen)
        if verdict.get("kind") == "document_timestamp":
            _add_object(objects, "timestamp", embedded.signed_data, embedded.signer_info,
                        der=cms.ContentInfo({"content_type": "signed_data",
                                             "content": embedded.signed_data}).dump())
            continue
        reports.append(_signature_report(embedded, verdict, validation_time))
    report = vr.ValidationReport(
        signature_validation_report=tuple(reports),
        signature_validation_objects=vr.ValidationObjectListType(tuple(objects.values())))
    text = XmlSerializer(config=SerializerConfig(indent="  "), context=_xml_context()).render(
        report, ns_map=NAMESPACES)
    return text.encode("utf-8")


@functools.cache
def _xml_context() -> XmlContext:
    """xsdata's metadata of the report's classes, built once a process (a third of a report's
    time when built for each)."""
    from xsdata.formats.dataclass.context import XmlContext

    return XmlContext()


def _signature_report(embedded: Any, verdict: Mapping[str, Any], validation_time: datetime
                      ) -> Any:
    from pyhanko.generated.etsi import ts_11910202 as vr
    from pyhanko.generated.etsi import xades
    from pyhanko.generated.w3c import xmldsig_core
    from xsdata.models.datatype import XmlDateTime

    signer_info = embedded.signer_info
    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    method = xmldsig_core.DigestMethod(_DIGESTS.get(algorithm, f"urn:oid:{algorithm}"))
    signed_attrs = hashlib.new(algorithm, signer_info["signed_attrs"].dump()).digest()
    timestamp_time = _time(verdict.get("timestamp_time"))
    certificate = embedded.signer_cert
    cert_id = _object_id("certificate", certificate.dump())
    qualification = verdict.get("qualification") or {}
    level = qualification.get("level")
    indication = verdict.get("indication") or "INDETERMINATE"
    sub = verdict.get("sub_indication")
    return vr.SignatureValidationReportType(
        signature_identifier=vr.SignatureIdentifierType(
            digest_alg_and_value=xades.DigestAlgAndValueType(
                digest_method=method, digest_value=xmldsig_core.DigestValue(signed_attrs)),
            signature_value=xmldsig_core.SignatureValue(signer_info["signature"].native),
            hash_only=False, doc_hash_only=False, daidentifier=embedded.field_name),
        validation_time_info=vr.ValidationTimeInfoType(
            validation_time=XmlDateTime.from_datetime(validation_time),
            best_signature_time=vr.POEType(
                poetime=XmlDateTime.from_datetime(timestamp_time),
                type_of_proof="urn:etsi:019102:poetype:validation") if timestamp_time else None),
        signers_document=vr.SignersDocumentType(digest_alg_and_value=xades.DigestAlgAndValueType(
            digest_method=method,
            digest_value=xmldsig_core.DigestValue(embedded.compute_digest()))),
        signature_attributes=_attributes(embedded, timestamp_time),
        signer_information=vr.SignerInformationType(
            signer_certificate=vr.VOReferenceType(voreference=(cert_id,)),
            signer=verdict.get("signer_name")),
        signature_quality=vr.SignatureQualityType(
            signature_quality_information=(_quality_uri(level),)) if level else None,
        signature_validation_process=vr.SignatureValidationProcessType(
            signature_validation_process_id="urn:etsi:019102:validationprocess:"
            + ("LTVM" if timestamp_time else "Basic")),
        signature_validation_status=vr.ValidationStatusType(
            main_indication=f"urn:etsi:019102:mainindication:{_INDICATIONS[indication]}",
            sub_indication=(f"urn:etsi:019102:subindication:{sub}",) if sub else ()),
    )


def _attributes(embedded: Any, timestamp_time: datetime | None) -> Any:
    """The signed attributes, as pyhanko's own ETSI report summarises them."""
    from pyhanko.sign.validation.report import tools

    status = SimpleNamespace(
        timestamp_validity=SimpleNamespace(timestamp=timestamp_time) if timestamp_time else None,
        content_timestamp_validity=None, cades_signer_attrs=None)
    return tools._summarise_attrs(embedded, status)  # type: ignore[arg-type]


def _quality_uri(level: str) -> str:
    from docservice.signing.qualification import URI_PREFIX

    return URI_PREFIX + level.replace(" ", "_")


def _object_id(kind: str, der: bytes) -> str:
    # As pyhanko names validation objects (vo-<type>-<SHA-256>), so its reports and ours agree.
    return f"vo-{kind}-{sha256_hex(der)}"


def _add_object(objects: dict[str, Any], kind: str, value: Any, signer_info: Any = None, *,
                der: bytes | None = None) -> None:
    from pyhanko.generated.etsi import ts_11910202 as vr

    data = der if der is not None else value.dump()
    marker = signer_info["signature"].native if signer_info is not None else data
    identifier = _object_id(kind, marker)
    if identifier not in objects:
        objects[identifier] = vr.ValidationObjectType(
            id=identifier, object_type=f"urn:etsi:019102:validationObject:{kind}",
            validation_object_representation=vr.ValidationObjectRepresentationType(base64=data))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class ReportSummary:
    """What a parsed report says, per signature: field, indication, qualification."""

    signatures: tuple[tuple[str, str, str | None], ...]


def parse_report(xml: bytes) -> Any:
    """The report parsed back into pyhanko's generated bindings (strict: unknown elements and
    attributes fail), or `EtsiReportError`."""
    from pyhanko.generated.etsi import ts_11910202 as vr
    from xsdata.formats.dataclass.parsers import XmlParser
    from xsdata.formats.dataclass.parsers.config import ParserConfig

    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise EtsiReportError("the report holds a DTD")
    parser = XmlParser(config=ParserConfig(fail_on_unknown_properties=True,
                                           fail_on_unknown_attributes=True,
                                           fail_on_converter_warnings=True, load_dtd=False))
    try:
        return parser.from_bytes(xml, vr.ValidationReport)
    except Exception as e:  # noqa: BLE001 - xsdata raises parser and converter errors alike
        raise EtsiReportError(f"not an ETSI TS 119 102-2 validation report: {e}") from e


def check_report(xml: bytes, pdf: bytes) -> ReportSummary:
    """Check that `xml` is a well-formed ETSI report of `pdf`: every signature it reports is in
    the PDF, identified by its value, with the digest of the bytes it signs; `EtsiReportError`
    otherwise."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    report = parse_report(xml)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        by_value = {bytes(e.signer_info["signature"].native): e
                    for e in reader.embedded_regular_signatures}
    except Exception as e:  # noqa: BLE001 - a PDF pyhanko cannot read is no match
        raise EtsiReportError(f"the PDF cannot be read: {e}") from e
    found = []
    if not report.signature_validation_report:
        raise EtsiReportError("the report names no signature")
    for item in report.signature_validation_report:
        identifier = item.signature_identifier
        value = bytes(identifier.signature_value.value) if identifier and \
            identifier.signature_value else b""
        embedded = by_value.get(value)
        if embedded is None:
            raise EtsiReportError("it reports a signature that is not in this PDF")
        document = item.signers_document.digest_alg_and_value if item.signers_document else None
        if document is None or document.digest_value is None or \
                bytes(document.digest_value.value) != embedded.compute_digest():
            raise EtsiReportError(f"{embedded.field_name}: the digest of the signed bytes is "
                                  "not this PDF's")
        status = item.signature_validation_status
        quality = item.signature_quality.signature_quality_information \
            if item.signature_quality else ()
        found.append((embedded.field_name,
                      (status.main_indication or "").rsplit(":", 1)[-1] if status else "",
                      quality[0].rsplit(":", 1)[-1] if quality else None))
    return ReportSummary(tuple(found))
