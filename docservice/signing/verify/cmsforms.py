"""The CMS forms found in real PDF signatures, validated as the EU DSS validator validates them.

pyhanko validates the usual form: a detached CMS (adbe.pkcs7.detached, ETSI.CAdES.detached,
PBAD.PAdES) whose message digest is the digest of the /ByteRange. Other products also write:

- adbe.pkcs7.sha1 (ISO 32000-1, 12.8.3.3.1): the CMS encapsulates the SHA-1 digest of the
  /ByteRange and signs that;
- an enveloping CMS under a detached sub-filter: the CMS encapsulates the signed content. DSS
  validates it when that content is the /ByteRange content itself or its digest; any other
  content is something other than this document, so the document is not what was signed;
- plain ECDSA (BSI TR-03111): the signature value is r || s rather than a DER SEQUENCE, which
  pyhanko's validator does not read (`SIGNATURE_VALIDATOR` does).

And it checks what DSS (Bouncy Castle) checks and pyhanko tolerates: the signer's digest
algorithm must be a digest algorithm, and the signed attributes must be DER-encoded, since
RFC 5652 (5.4) computes the signature over their DER encoding: a signature over another
encoding of them does not verify over the DER one.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, cms, core
from asn1crypto.keys import PublicKeyInfo
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    report_seed_value_validation,
)
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)
from pyhanko_certvalidator.util import (
    get_pyca_cryptography_hash,
    get_pyca_cryptography_hash_for_signing,
)

from docservice.signing.verify.report import (
    FORMAT_FAILURE,
    INDETERMINATE,
    SIG_CRYPTO_FAILURE,
    TOTAL_FAILED,
)

DETACHED_SUBFILTERS = ("/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/PBAD.PAdES")
SHA1_SUBFILTER = "/adbe.pkcs7.sha1"
SIGNATURE_SUBFILTERS = (*DETACHED_SUBFILTERS, SHA1_SUBFILTER)

#: ecdsa-plain-* (BSI TR-03111, 0.4.0.127.0.7.1.1.4.1.n): the hash each one signs with.
_PLAIN_ECDSA = "0.4.0.127.0.7.1.1.4.1."
_PLAIN_ECDSA_HASHES = {"1": "sha1", "2": "sha224", "3": "sha256", "4": "sha384", "5": "sha512",
                       "8": "sha3_224", "9": "sha3_256", "10": "sha3_384", "11": "sha3_512"}


@dataclass(frozen=True)
class FormProblem:
    """Why a CMS cannot be validated as it stands, in the report's vocabulary."""

    indication: str
    sub_indication: str
    reason: str


class _SignatureValidator(DefaultSignatureValidator):
    """pyhanko's validator, which also reads plain-ECDSA (r || s) signature values."""

    def validate_signature(self, signature: bytes, signed_data: bytes,
                           public_key_info: PublicKeyInfo,
                           signature_algorithm: algos.SignedDigestAlgorithm,
                           context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
                           ) -> None:
        oid = signature_algorithm["algorithm"].dotted
        if not oid.startswith(_PLAIN_ECDSA):
            try:
                super().validate_signature(signature, signed_data, public_key_info,
                                           signature_algorithm, context)
            except (AssertionError, TypeError, ValueError) as e:
                # pyhanko asserts the key fits the algorithm (an RSA algorithm, an EC key):
                # a value this key cannot have made is an invalid signature, not a crash.
                raise InvalidSignature from e
            return
        hash_name = _PLAIN_ECDSA_HASHES.get(oid[len(_PLAIN_ECDSA):])
        if hash_name is None or not signature or len(signature) % 2:
            raise InvalidSignature
        key = serialization.load_der_public_key(public_key_info.dump())
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InvalidSignature
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                   int.from_bytes(signature[half:], "big"))
        digest = get_pyca_cryptography_hash_for_signing(hash_name, prehashed=context.prehashed)
        key.verify(der, signed_data, ec.ECDSA(digest))


SIGNATURE_VALIDATOR = _SignatureValidator()


def unreadable_reason(contents: bytes) -> str | None:
    """A precise reason why pyhanko cannot take this /Contents as one signature, if one is known."""
    try:
        info = cms.ContentInfo.load(contents)
        signed_data = info["content"]
        if not isinstance(signed_data, cms.SignedData):
            return None
        count = len(signed_data["signer_infos"])
    except Exception:  # noqa: BLE001 - not even a CMS: the caller's message stands
        return None
    if count != 1:
        return (f"its CMS holds {count} SignerInfos; a PDF signature holds exactly one signer "
                "(ISO 32000-1, 12.8.3.3)")
    return None


def precheck(emb: EmbeddedPdfSignature) -> FormProblem | None:
    """What makes this signature invalid or unverifiable before any cryptography is done."""
    signer_info = emb.signer_info
    digest_oid = signer_info["digest_algorithm"]["algorithm"]
    try:
        get_pyca_cryptography_hash(digest_oid.native)
    except Exception:  # noqa: BLE001 - an OID that names no digest algorithm
        return FormProblem(TOTAL_FAILED, SIG_CRYPTO_FAILURE, (
            f"its digest algorithm ({digest_oid.dotted}) is not a digest algorithm: the signed "
            "digest cannot be recomputed, so the signature is not intact"))
    subfilter = str(emb.sig_object.get("/SubFilter", ""))
    content = emb.signed_data["encap_content_info"]["content"]
    if subfilter == SHA1_SUBFILTER and not _has_content(content):
        return FormProblem(INDETERMINATE, FORMAT_FAILURE, (
            "its format (/adbe.pkcs7.sha1) requires the CMS to encapsulate the SHA-1 digest of "
            "the signed bytes, but it encapsulates nothing"))
    return None


def der_problem(emb: EmbeddedPdfSignature) -> str | None:
    """Why the signed attributes are not DER-encoded (RFC 5652 signs their DER encoding)."""
    attrs = emb.signer_info["signed_attrs"]
    if isinstance(attrs, core.Void) or not len(attrs):
        return None
    try:
        raw = attrs.untag().dump()
        if not _is_der_set(raw):
            return ("its signed attributes are not DER-encoded (their SET is not in DER order): "
                    "the signature does not verify over their DER encoding, which CMS signs "
                    "(RFC 5652, 5.4)")
        for attr in attrs:
            values = attr["values"]
            if not _is_der_set(values.dump()):
                return (f"its signed attribute {attr['type'].native} is not DER-encoded: the "
                        "signature does not verify over the DER encoding CMS signs "
                        "(RFC 5652, 5.4)")
    except Exception:  # noqa: BLE001 - unreadable attributes: pyhanko's verdict stands
        return None
    return None


def _is_der_set(encoded: bytes) -> bool:
    """Whether a SET OF is encoded as DER: minimal length, children in ascending order.

    The children are compared as written (split from the raw bytes): what a DER re-encoder
    such as Bouncy Castle's (DSS) would reorder. A library's own re-encoding of a child
    (asn1crypto drops a DEFAULT value a signer wrote out) is no evidence either way."""
    children = _raw_children(encoded)
    if children is None:
        return False
    return encoded == _tlv(encoded[0], b"".join(sorted(children)))


def _raw_children(encoded: bytes) -> list[bytes] | None:
    """The TLVs inside a constructed value, as written; None when the lengths do not add up."""
    header = _header_length(encoded, 0)
    if header is None:
        return None
    at, children = header[0], []
    while at < len(encoded):
        child = _header_length(encoded, at)
        if child is None or child[0] + child[1] > len(encoded):
            return None
        children.append(encoded[at:child[0] + child[1]])
        at = child[0] + child[1]
    return children


def _header_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(where the contents start, their length) for the TLV at `at` (one-byte tags only)."""
    if at + 2 > len(data) or data[at] & 0x1F == 0x1F:
        return None
    first = data[at + 1]
    if first < 0x80:
        return at + 2, first
    size = first & 0x7F
    if size == 0 or size > 4 or at + 2 + size > len(data):
        return None  # indefinite lengths are BER, not DER
    return at + 2 + size, int.from_bytes(data[at + 2:at + 2 + size], "big")


def _tlv(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + body


def _has_content(content: object) -> bool:
    return content is not None and not isinstance(content, core.Void)


def form_of(emb: EmbeddedPdfSignature) -> str:
    """"detached" (pyhanko's), "sha1" (adbe.pkcs7.sha1) or "enveloping" (content inside)."""
    subfilter = str(emb.sig_object.get("/SubFilter", ""))
    if subfilter == SHA1_SUBFILTER:
        return "sha1"
    info = emb.signed_data["encap_content_info"]
    enveloping = info["content_type"].native == "data" and _has_content(info["content"])
    return "enveloping" if enveloping else "detached"


async def validate_signature(emb: EmbeddedPdfSignature, pdf: bytes, *,
                             signer_context: ValidationContext,
                             ts_context: ValidationContext) -> PdfSignatureStatus:
    """pyhanko's validation of a PDF signature, for every form `form_of` tells apart."""
    form = form_of(emb)
    if form == "detached":
        return await async_validate_pdf_signature(
            emb, signer_validation_context=signer_context, ts_validation_context=ts_context,
            skip_diff=True)
    encapsulated = bytes(emb.signed_data["encap_content_info"]["content"])
    if form == "sha1":
        matches = encapsulated == emb.compute_digest("sha1")
    else:
        matches = encapsulated == _signed_bytes(emb, pdf) or encapsulated in {
            emb.compute_digest(name) for name in {emb.md_algorithm, "sha1", "sha256"}}
    # What async_validate_pdf_signature does, with the CMS validated over its own content.
    emb.compute_integrity_info(skip_diff=True)
    kwargs = emb.summarise_integrity_info()
    kwargs.update(await generic_cms.collect_timing_info(
        emb.signer_info, ts_context, raw_digest=emb.compute_digest))
    if "signer_reported_dt" not in kwargs and emb.self_reported_timestamp is not None:
        kwargs["signer_reported_dt"] = emb.self_reported_timestamp
    kwargs = await generic_cms.cms_basic_validation(
        emb.signed_data, raw_digest=None, validation_context=signer_context,
        status_kwargs=kwargs,
        key_usage_settings=PdfSignatureStatus.default_usage_constraints(None))
    if not matches:
        kwargs["intact"] = False
    tst = kwargs.get("timestamp_validity")
    kwargs.update(report_seed_value_validation(
        emb, kwargs["validation_path"], tst is not None and tst.valid and tst.trusted))
    kwargs.update(await generic_cms.collect_signer_attr_status(
        sd_attr_certificates=emb.embedded_attr_certs, signer_cert=emb.signer_cert,
        validation_context=None, sd_signed_attrs=emb.signer_info["signed_attrs"]))
    return PdfSignatureStatus(**kwargs)


def sha1_binding(emb: EmbeddedPdfSignature, pdf: bytes) -> bool:
    """Whether only a SHA-1 digest ties the document to this signature (adbe.pkcs7.sha1, or an
    enveloping CMS that encapsulates the SHA-1 digest): SHA-1 collisions can be computed, so
    another document may share that digest."""
    form = form_of(emb)
    if form == "sha1":
        return True
    if form == "enveloping":
        encapsulated = bytes(emb.signed_data["encap_content_info"]["content"])
        return encapsulated != _signed_bytes(emb, pdf) and (
            encapsulated == emb.compute_digest("sha1") or emb.md_algorithm == "sha1")
    return False  # detached: pyhanko's algorithm policy judges the digest algorithm


def content_reason(emb: EmbeddedPdfSignature) -> str:
    """What a not-intact signature of this form failed to match."""
    form = form_of(emb)
    if form == "sha1":
        return ("the SHA-1 digest its CMS encapsulates is not the digest of the signed bytes "
                "(or its message digest does not match)")
    if form == "enveloping":
        return ("the content its CMS encapsulates is neither the signed bytes nor their digest "
                "(or its message digest does not match)")
    return "the signed bytes were changed after the signature was made"


def _signed_bytes(emb: EmbeddedPdfSignature, pdf: bytes) -> bytes:
    start, first, second_start, second = (int(v) for v in emb.byte_range)
    return pdf[start:start + first] + pdf[second_start:second_start + second]

