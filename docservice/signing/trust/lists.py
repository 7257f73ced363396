"""Trusted lists themselves: fetched, their signatures verified, their services read."""


from __future__ import annotations

import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509

from docservice.domain import sha256_hex
from docservice.signing.trust.model import (
    _TERRITORY,
    _USAGES,
    CA_QC,
    FETCH_TIMEOUT,
    GRANTED,
    LOTL_TERRITORY,
    MAX_LIST_BYTES,
    TSA_QTST,
    ListInfo,
    TrustListRefused,
    TrustStoreEntry,
    VerifiedList,
    _moment,
    _service_json,
    _utc,
)

# --- fetching -------------------------------------------------------------------------------


def fetch_url(url: str) -> bytes:
    """GET `url` (http or https; TLS verified), at most MAX_LIST_BYTES."""
    if not url.lower().startswith(("https://", "http://")):
        raise TrustListRefused(url, "only http(s) addresses are fetched")
    request = urllib.request.Request(url, headers={
        "Accept": "application/vnd.etsi.tsl+xml, text/xml, application/xml",
        "User-Agent": "docservice-trust-refresh"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data: bytes = response.read(MAX_LIST_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise TrustListRefused(url, f"cannot fetch: {getattr(e, 'reason', None) or e}") from e
    if len(data) > MAX_LIST_BYTES:
        raise TrustListRefused(url, f"larger than {MAX_LIST_BYTES // 2**20} MB")
    return data


# --- verifying ------------------------------------------------------------------------------


def lotl_signer_certificates() -> list[asn1_x509.Certificate]:
    """The LOTL signing certificates last published in the Official Journal (pyhanko's)."""
    from pyhanko.sign.validation.qualified import eutl_parse

    return list(eutl_parse.latest_known_lotl_tlso_certs())


def verify_lotl(xml: bytes, *, source: str, at: datetime | None = None,
                signer_certs: Sequence[asn1_x509.Certificate] | None = None) -> VerifiedList:
    """The EU LOTL in `xml`, its signature verified as of `at` (default now) against the
    Official Journal's certificates; `TrustListRefused` when it does not verify."""
    from pyhanko.sign.validation.qualified import eutl_parse

    at = _moment(at)
    text = _text(xml, source)
    raw = _raw(text, source)
    if not _is_lotl(raw):
        raise TrustListRefused(source, "not the EU list of trusted lists")
    certs = list(signer_certs) if signer_certs is not None else lotl_signer_certificates()
    signed, signer = _verified_content(text, certs, at, source)
    parsed = eutl_parse.parse_lotl_unsafe(signed)
    pointers = tuple(p for p in parsed.references if eutl_parse.LOTL_RULE not in p.scheme_rules)
    info = _info(_raw(signed, source), source, xml, verified=True, signed_by=signer, at=at)
    return VerifiedList(info=info, xml=xml, services=(), entries=(), certificates={},
                        pointers=pointers)


def verify_trusted_list(xml: bytes, *, source: str, tlso_certs: Sequence[asn1_x509.Certificate],
                        at: datetime | None = None, territory: str | None = None,
                        unsigned_ok: bool = False) -> VerifiedList:
    """A member state's list, its signature verified as of `at` against `tlso_certs` (those the
    LOTL names for its territory). Refused when it does not verify, unless `unsigned_ok`: then
    it is read from the file as it is, and marked unverified."""
    at = _moment(at)
    text = _text(xml, source)
    raw = _raw(text, source)
    if _is_lotl(raw):
        raise TrustListRefused(source, "this is the EU list of trusted lists, not a member "
                                       "state's list")
    found = _scheme_territory(raw, source)
    if territory is not None and found != territory:
        raise TrustListRefused(source, f"it is the {found} list, not the {territory} list")
    try:
        if not tlso_certs:
            raise TrustListRefused(source, f"no verified LOTL in the store names the signing "
                                           f"certificates of the {found} list: run `docservice "
                                           "trust refresh` or load the LOTL first")
        signed, signer = _verified_content(text, tlso_certs, at, source)
        verified = True
    except TrustListRefused:
        if not unsigned_ok:
            raise
        signed, signer, verified = text, None, False
    content = _raw(signed, source) if verified else raw
    info = _info(content, source, xml, verified=verified, signed_by=signer, at=at)
    services, certificates = _services(signed, info.territory, source)
    entries, listed_certs = _entries(content, info)
    return VerifiedList(info=info, xml=xml, services=services, entries=entries,
                        certificates={**certificates, **listed_certs})


def _verified_content(text: str, certs: Sequence[asn1_x509.Certificate], at: datetime,
                      source: str) -> tuple[str, str]:
    """The signed content of a list and who signed it, or `TrustListRefused`."""
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.qualified import eutl_parse

    errors = []
    # Newest first, as pyhanko does; one at a time to know which certificate verified it.
    for cert in sorted(certs, key=lambda c: c.not_valid_before, reverse=True):
        try:
            # pyhanko's own per-certificate check (its public trust_list_to_registry always
            # verifies as of now, which an old list or a test at a pinned time cannot use).
            signed = eutl_parse._validate_and_extract_tl_data(text, cert, at)
        except SignatureValidationError as e:
            errors.append(e.failure_message)
            continue
        except Exception as e:  # noqa: BLE001 - hostile XML: any failure is a refusal
            errors.append(f"{type(e).__name__}: {e}")
            continue
        return signed, cert.subject.human_friendly
    first = errors[0] if errors else "no signing certificate to check it with"
    raise TrustListRefused(source, "its signature does not verify with the "
                                   f"{len(certs)} certificate(s) its scheme operator may sign "
                                   f"with ({first})")


def _text(xml: bytes, source: str) -> str:
    if len(xml) > MAX_LIST_BYTES:
        raise TrustListRefused(source, f"larger than {MAX_LIST_BYTES // 2**20} MB")
    # Visible in the bytes: pyhanko's parser resolves no entities, but a DTD has no place here.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise TrustListRefused(source, "contains a DTD or entity declarations, which a trusted "
                                       "list never has")
    try:
        return xml.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TrustListRefused(source, f"not UTF-8 XML: {e}") from e


def _raw(text: str, source: str) -> Any:
    from pyhanko.sign.validation.qualified import eutl_parse

    try:
        parsed = eutl_parse._raw_tl_parse(text)
    except Exception as e:  # noqa: BLE001 - xsdata/lxml raise many kinds
        raise TrustListRefused(source, f"not an ETSI TS 119 612 list: {e}") from e
    if parsed is None or parsed.scheme_information is None:
        raise TrustListRefused(source, "not an ETSI TS 119 612 list (no SchemeInformation)")
    return parsed


def _is_lotl(raw: Any) -> bool:
    tsl_type = raw.scheme_information.tsltype
    return bool(tsl_type and str(tsl_type.value).endswith("EUlistofthelists"))


def _scheme_territory(raw: Any, source: str) -> str:
    territory = raw.scheme_information.scheme_territory
    value = str(territory.value).strip() if territory is not None else ""
    if not _TERRITORY.match(value) and value != LOTL_TERRITORY:
        raise TrustListRefused(source, f"SchemeTerritory {value!r} is not a country code")
    return value


def _info(raw: Any, source: str, xml: bytes, *, verified: bool, signed_by: str | None,
          at: datetime) -> ListInfo:
    scheme = raw.scheme_information
    if scheme.tslsequence_number is None or scheme.list_issue_date_time is None:
        raise TrustListRefused(source, "its sequence number or issue date is missing")
    next_update = scheme.next_update.date_time if scheme.next_update else None
    return ListInfo(territory=_scheme_territory(raw, source),
                    sequence_number=int(scheme.tslsequence_number),
                    issued_at=_utc(scheme.list_issue_date_time.to_datetime()),
                    next_update=_utc(next_update.to_datetime()) if next_update else None,
                    source=source, sha256=sha256_hex(xml), verified=verified,
                    signed_by=signed_by, checked_at=at)


def _services(signed: str, territory: str, source: str
              ) -> tuple[tuple[dict[str, Any], ...], dict[str, asn1_x509.Certificate]]:
    """The qualified service definitions pyhanko reads from a list's signed content: per CA/QC
    and TSA/QTST service, its current entry if granted and each granted period of its history.

    A history entry identifies the service by subject name and key identifier, not by the
    certificate (ETSI TS 119 612, 5.6): its certificates are those of the current entry, which
    pyhanko would otherwise leave empty, so that no past period ever matched a CA.
    """
    from pyhanko.generated.etsi import ServiceTypeIdentifier
    from pyhanko.sign.validation.qualified import eutl_parse

    kinds = ((CA_QC, eutl_parse._interpret_historical_service_info_for_ca),
             (TSA_QTST, eutl_parse._interpret_historical_service_info_for_qtst))
    certificates: dict[str, asn1_x509.Certificate] = {}
    definitions = []
    providers = _raw(signed, source).trust_service_provider_list
    try:
        for tsp in (providers.trust_service_provider if providers else ()):
            for service in (tsp.tspservices.tspservice if tsp.tspservices else ()):
                si = service.service_information
                if si is None or si.service_digital_identity is None:
                    continue
                current = tuple(eutl_parse._as_certs(si.service_digital_identity))
                for type_uri, interpreter in kinds:
                    for definition in eutl_parse._interpret_service_info_for_tsps(
                            [service], ServiceTypeIdentifier(type_uri), interpreter):
                        if not definition.base_info.provider_certs:
                            definition = replace(definition, base_info=replace(
                                definition.base_info, provider_certs=current))
                        definitions.append(_service_json(definition, territory, certificates))
    except Exception as e:  # noqa: BLE001 - a list pyhanko cannot read is refused whole
        raise TrustListRefused(source, f"its services cannot be read: {e}") from e
    return tuple(definitions), certificates


def _entries(raw: Any, info: ListInfo
             ) -> tuple[tuple[TrustStoreEntry, ...], dict[str, asn1_x509.Certificate]]:
    """One entry per distinct CA/QC certificate of the list (any status); granted wins."""
    chosen: dict[str, TrustStoreEntry] = {}
    certificates: dict[str, asn1_x509.Certificate] = {}
    providers = raw.trust_service_provider_list
    for tsp in (providers.trust_service_provider if providers else ()):
        tsp_name = _name(tsp.tspinformation.tspname if tsp.tspinformation else None)
        for service in (tsp.tspservices.tspservice if tsp.tspservices else ()):
            si = service.service_information
            if si is None or si.service_type_identifier is None \
                    or si.service_type_identifier.value != CA_QC:
                continue
            status = si.service_status.value if si.service_status else ""
            usages = {_USAGES[u] for u in _additional_info(si) if u in _USAGES}
            qualified = status == GRANTED and (not usages or "ForeSignatures" in usages)
            since = _utc(si.status_starting_time.to_datetime()) if si.status_starting_time \
                else info.issued_at
            for digital_id in (si.service_digital_identity.digital_id
                               if si.service_digital_identity else ()):
                if not digital_id.x509_certificate:
                    continue
                try:
                    cert = asn1_x509.Certificate.load(digital_id.x509_certificate)
                    sha = cert.sha256.hex()
                    entry = TrustStoreEntry(
                        sha256=sha, subject=_subject(cert), not_after=cert.not_valid_after,
                        territory=info.territory, tsp=tsp_name, service_name=_name(si.service_name),
                        service_type=CA_QC, status=status, status_since=since,
                        qualified=qualified, verified=info.verified)
                except (ValueError, TypeError) as e:
                    raise TrustListRefused(info.source, f"a certificate of {tsp_name!r} cannot "
                                                        f"be read: {e}") from e
                if sha not in chosen or (qualified and not chosen[sha].qualified):
                    chosen[sha] = entry
                    certificates[sha] = cert
    entries = tuple(sorted(chosen.values(), key=lambda e: (e.subject, e.sha256)))
    return entries, certificates


def _additional_info(si: Any) -> list[str]:
    uris = []
    for extension in (si.service_information_extensions.extension
                      if si.service_information_extensions else ()):
        for content in extension.content:
            uri = getattr(content, "uri", None)
            if uri is not None and hasattr(uri, "value"):
                uris.append(str(uri.value))
    return uris


def _name(names: Any) -> str:
    values = [(n.lang, n.value) for n in (names.name if names is not None else ())]
    return next((v for lang, v in values if lang == "en" and v),
                next((v for _, v in values if v), ""))


def _subject(cert: asn1_x509.Certificate) -> str:
    from cryptography import x509

    try:
        with warnings.catch_warnings():  # over-long names in old lists: read them anyway
            warnings.simplefilter("ignore", UserWarning)
            return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    except ValueError:  # stricter than asn1crypto about some old encodings
        return str(cert.subject.human_friendly)
