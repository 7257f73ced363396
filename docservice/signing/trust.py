"""EU trusted lists (ETSI TS 119 612), fetched and signature-verified by pyhanko; the trust store.

The EU's List of Trusted Lists (LOTL) is verified against the LOTL signing certificates
published in the Official Journal (shipped with pyhanko); each member state's list against the
certificates the verified LOTL names for its territory. pyhanko (`pyhanko[etsi]`) reads the
services and their status history; `docservice.signing.qualification` judges signatures with
them. `docservice trust refresh` fetches, `docservice trust load FILE.xml` loads a file
(offline sites), `docservice trust list` shows what is kept.

The store is a folder (default ``<checkout>/signatures/trust``, or ``$DOCSERVICE_TRUST_PATH``)::

    index.json           what is stored (written last): per list its territory, sequence
                         number, issue and next-update dates, source, SHA-256, and whether and
                         by whom its signature was verified; per CA/QC certificate its subject,
                         expiry, territory, TSP, service, current status and "qualified"
    lists/<XX>.xml       every list as fetched or loaded (EU.xml: the LOTL), for re-checking
    services.json        the cache: each list's qualified services (CA/QC, TSA/QTST) with their
                         granted periods, as pyhanko read them from the signed content
    <sha256 of DER>.pem  every certificate a service names, by its SHA-256

Every CA/QC certificate of a stored list is a trust anchor for chain building (as the EU DSS
validator has it, whatever the status); whether a signature is qualified is judged per
signature, at its signing time, from services.json. A list stored without a verified
signature (`trust load --unsigned-ok`) is marked so in index.json, and every verification
that relies on it says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from docservice.config import CHECKOUT
from docservice.errors import DocserviceError

TRUST_PATH_ENV = "DOCSERVICE_TRUST_PATH"
DEFAULT_TRUST_PATH = CHECKOUT / "signatures" / "trust"
EU_LOTL_URL = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"
LOTL_TERRITORY = "EU"
INDEX, SERVICES, LISTS, LOCK = "index.json", "services.json", "lists", ".lock"
INDEX_FORMAT = 2
MAX_LIST_BYTES = 64 * 1024 * 1024  # the largest EU lists are a few MB
FETCH_TIMEOUT = 60.0

CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
TSA_QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
_SVC_INFO_EXT = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
_USAGES = {_SVC_INFO_EXT + u: u for u in ("ForeSignatures", "ForeSeals", "ForWebSiteAuthentication")}
_PEM_NAME = re.compile(r"^[0-9a-f]{64}\.pem$")
_TERRITORY = re.compile(r"^[A-Z]{2}$")
_CN = re.compile(r"(?:^|,)CN=((?:[^,\\]|\\.)*)")

Fetch = Callable[[str], bytes]


class TrustListRefused(DocserviceError):
    """A list that is not stored: its signature does not verify, or it is no usable list."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"trusted list {source} refused: {reason}")
        self.source = source
        self.reason = reason


class TrustListOutdated(DocserviceError):
    """A list older than the one already stored for its territory; nothing was stored."""

    def __init__(self, territory: str, sequence_number: int, stored_sequence_number: int) -> None:
        super().__init__(f"trusted list {territory} #{sequence_number} is older than the stored "
                         f"#{stored_sequence_number}; nothing changed")
        self.territory = territory
        self.sequence_number = sequence_number
        self.stored_sequence_number = stored_sequence_number


class TrustStoreInvalid(DocserviceError):
    """The trust store folder is damaged (unreadable index, missing or altered certificate)."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"trust store in {folder}: {reason}")
        self.folder = folder
        self.reason = reason


@dataclass(frozen=True)
class ListInfo:
    """One stored list: what it is, where it came from, and whether its signature verified."""

    territory: str  # "EU" for the LOTL
    sequence_number: int
    issued_at: datetime
    next_update: datetime | None  # None: the list is closed
    source: str  # the URL fetched, or the file loaded
    sha256: str  # of the bytes as fetched
    verified: bool
    signed_by: str | None  # the subject of the certificate the signature verified with
    checked_at: datetime

    @property
    def is_lotl(self) -> bool:
        return self.territory == LOTL_TERRITORY

    @property
    def note(self) -> str | None:
        """What a report must say about this list, if anything."""
        if self.verified:
            return None
        return (f"the {self.territory} trusted list #{self.sequence_number} was stored WITHOUT a "
                "verified signature (trust load --unsigned-ok)")

    def is_stale(self, now: datetime) -> bool:
        """Whether the list's next update was due before `now` (a newer list exists)."""
        return self.next_update is None or self.next_update < now

    def to_json(self) -> dict[str, Any]:
        return {"territory": self.territory, "sequence_number": self.sequence_number,
                "issued_at": self.issued_at.isoformat(),
                "next_update": self.next_update.isoformat() if self.next_update else None,
                "source": self.source, "sha256": self.sha256,
                "signature": {"verified": self.verified, "signed_by": self.signed_by,
                              "checked_at": self.checked_at.isoformat()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ListInfo:
        signature = data["signature"]
        return cls(territory=str(data["territory"]), sequence_number=int(data["sequence_number"]),
                   issued_at=datetime.fromisoformat(data["issued_at"]),
                   next_update=(datetime.fromisoformat(data["next_update"])
                                if data["next_update"] else None),
                   source=str(data["source"]), sha256=str(data["sha256"]),
                   verified=bool(signature["verified"]), signed_by=signature.get("signed_by"),
                   checked_at=datetime.fromisoformat(signature["checked_at"]))


@dataclass(frozen=True)
class TrustStoreEntry:
    """One CA/QC certificate of the store, as index.json describes it."""

    sha256: str
    subject: str
    not_after: datetime
    territory: str
    tsp: str
    service_name: str
    service_type: str
    status: str
    status_since: datetime
    qualified: bool  # granted now, for e-signatures (or for any usage when none is named)
    verified: bool  # its list's signature verified

    @property
    def common_name(self) -> str:
        """The CN of the subject (the whole subject if it has none)."""
        match = _CN.search(self.subject)
        return re.sub(r"\\(.)", r"\1", match.group(1)) if match else self.subject

    @property
    def status_name(self) -> str:
        """The status without its URI prefix: granted, withdrawn, ..."""
        return self.status.rstrip("/").rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "subject": self.subject,
                "not_after": self.not_after.isoformat(), "territory": self.territory,
                "tsp": self.tsp, "service_name": self.service_name,
                "service_type": self.service_type, "status": self.status,
                "status_since": self.status_since.isoformat(), "qualified": self.qualified,
                "verified": self.verified}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrustStoreEntry:
        sha256 = data["sha256"]
        if not isinstance(sha256, str) or not _PEM_NAME.match(sha256 + ".pem"):
            raise ValueError(f"bad sha256 {sha256!r}")
        return cls(sha256=sha256, subject=str(data["subject"]),
                   not_after=datetime.fromisoformat(data["not_after"]),
                   territory=str(data["territory"]), tsp=str(data["tsp"]),
                   service_name=str(data["service_name"]), service_type=str(data["service_type"]),
                   status=str(data["status"]),
                   status_since=datetime.fromisoformat(data["status_since"]),
                   qualified=bool(data["qualified"]), verified=bool(data["verified"]))


@dataclass(frozen=True)
class VerifiedList:
    """A list read from its signed content: its facts, services, certificates and pointers."""

    info: ListInfo
    xml: bytes = field(repr=False)
    services: tuple[dict[str, Any], ...] = field(repr=False)  # see `_service_json`
    entries: tuple[TrustStoreEntry, ...] = field(repr=False)
    certificates: Mapping[str, asn1_x509.Certificate] = field(repr=False)
    pointers: tuple[Any, ...] = field(default=(), repr=False)  # LOTL only: pyhanko TLReference


@dataclass(frozen=True)
class TrustedLists:
    """What the verification engine needs from the store, small and picklable (it crosses into
    the verification child process): per CA (subject and key, as pyhanko's `Authority`), the
    JSON of its service definitions, and the certificates those name."""

    services: Mapping[str, tuple[str, ...]]  # authority key -> JSON service definitions
    listed: Mapping[str, tuple[str, str, str, str]]  # key -> territory, service, status, since
    certificates: Mapping[str, bytes]  # sha256 -> DER
    notes: Mapping[str, str]  # territory -> why its list is not to be relied on

    def registry_for(self, authorities: Iterable[Any]) -> Any:
        """A pyhanko TSPRegistry holding the service definitions of `authorities` only."""
        from pyhanko.sign.validation.qualified.tsp import CAServiceInformation, TSPRegistry

        registry = TSPRegistry()
        certificates: dict[str, asn1_x509.Certificate] = {}
        for key in dict.fromkeys(authority_key(a) for a in authorities):
            for text in self.services.get(key, ()):
                definition = _service_from_json(json.loads(text), self.certificates, certificates)
                if isinstance(definition, CAServiceInformation):
                    registry.register_ca(definition)
                else:
                    registry.register_tst(definition)
        return registry

    def territory_of(self, definition: Any) -> str | None:
        """The territory whose list holds a service definition (by its certificates)."""
        for cert in definition.base_info.provider_certs:
            listed = self.listed.get(_key(cert.subject, cert.public_key))
            if listed:
                return listed[0]
        return None


@dataclass(frozen=True)
class TrustStoreData:
    """Everything kept in the store: lists, entries, anchors, and the engine's view of them."""

    lists: tuple[ListInfo, ...] = ()
    entries: tuple[TrustStoreEntry, ...] = ()
    roots: tuple[asn1_x509.Certificate, ...] = ()
    qualified: frozenset[bytes] = frozenset()  # SHA-256 of CA certificates granted now
    trusted_lists: TrustedLists | None = None

    @property
    def notes(self) -> tuple[str, ...]:
        """What every report must say: the lists stored without a verified signature."""
        return tuple(n for n in (i.note for i in self.lists) if n)


@dataclass(frozen=True)
class RefreshResult:
    """What `refresh` stored, refused and kept."""

    folder: Path
    lotl: ListInfo
    stored: tuple[ListInfo, ...]
    refused: Mapping[str, str]  # territory -> why (its earlier list, if any, is kept)
    kept: tuple[ListInfo, ...]  # earlier lists kept for refused territories

    def stale(self, now: datetime) -> tuple[ListInfo, ...]:
        return tuple(i for i in (self.lotl, *self.stored, *self.kept) if i.is_stale(now))


@dataclass(frozen=True)
class LoadResult:
    """What `load_file` stored."""

    folder: Path
    info: ListInfo
    entries: tuple[TrustStoreEntry, ...]
    replaced_sequence_number: int | None

    @property
    def qualified_count(self) -> int:
        return sum(e.qualified for e in self.entries)

    @property
    def belgian_eid_roots(self) -> tuple[TrustStoreEntry, ...]:
        """The Belgian eID roots (Belgium Root CA, CA2, ...) among the stored identities."""
        return tuple(e for e in self.entries
                     if re.fullmatch(r"Belgium Root CA\d*", e.common_name) is not None)


def trust_store_path(env: Mapping[str, str] | None = None) -> Path:
    """The trust store folder: ``$DOCSERVICE_TRUST_PATH``, else ``<checkout>/signatures/trust``."""
    value = (os.environ if env is None else env).get(TRUST_PATH_ENV)
    return Path(value).expanduser().resolve() if value else DEFAULT_TRUST_PATH


def authority_key(authority: Any) -> str:
    """The key of a CA as pyhanko compares them (subject and public key)."""
    return _key(authority.name, authority.public_key)


def _key(subject: asn1_x509.Name, public_key: Any) -> str:
    return hashlib.sha256(subject.hashable.encode() + b"\0" + public_key.dump()).hexdigest()


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
                    source=source, sha256=hashlib.sha256(xml).hexdigest(), verified=verified,
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


# --- service definitions as JSON (services.json, and across to the verification child) -------


def _service_json(definition: Any, territory: str,
                  certificates: dict[str, asn1_x509.Certificate]) -> dict[str, Any]:
    from pyhanko.sign.validation.qualified.tsp import CAServiceInformation

    base = definition.base_info
    shas = []
    for cert in base.provider_certs:
        certificates[cert.sha256.hex()] = cert
        shas.append(cert.sha256.hex())
    expired = getattr(definition, "expired_certs_revocation_info", None)
    return {
        "kind": "ca" if isinstance(definition, CAServiceInformation) else "qtst",
        "territory": territory, "service_type": base.service_type,
        "service_name": base.service_name, "valid_from": base.valid_from.isoformat(),
        "valid_until": base.valid_until.isoformat() if base.valid_until else None,
        "certificates": shas,
        "qc_types": sorted(t.value for t in base.additional_info_certificate_type),
        "other_info": sorted(([i.uri, i.critical, i.textual_info]
                              for i in base.other_additional_info), key=str),
        "qualifications": sorted(({"qualifiers": sorted(q.value for q in qualification.qualifiers),
                                   "criteria": _criterion_json(qualification.criteria_list)}
                                  for qualification in definition.qualifications), key=str),
        "expired_certs_revocation_info": expired.isoformat() if expired else None,
    }


def _criterion_json(criterion: Any) -> dict[str, Any]:
    from pyhanko.sign.validation.qualified import tsp

    if isinstance(criterion, tsp.CriteriaList):
        return {"combine": criterion.combine_as.value,
                "criteria": sorted((_criterion_json(c) for c in criterion.criteria), key=str)}
    if isinstance(criterion, tsp.KeyUsageCriterion):
        s = criterion.settings
        return {"key_usage": sorted(s.key_usage or ()),
                "key_usage_forbidden": sorted(s.key_usage_forbidden or ()),
                "extd_key_usage": sorted(s.extd_key_usage) if s.extd_key_usage is not None
                else None}
    if isinstance(criterion, tsp.PolicySetCriterion):
        return {"policies": sorted(criterion.required_policy_oids)}
    if isinstance(criterion, tsp.CertSubjectDNCriterion):
        return {"subject_attributes": sorted(criterion.required_rdn_part_oids)}
    raise TypeError(f"unknown criterion {criterion!r}")


def _service_from_json(data: Mapping[str, Any], ders: Mapping[str, bytes],
                       loaded: dict[str, asn1_x509.Certificate]) -> Any:
    from pyhanko.sign.validation.qualified import tsp

    def cert(sha: str) -> asn1_x509.Certificate:
        if sha not in loaded:
            loaded[sha] = asn1_x509.Certificate.load(ders[sha])
        return loaded[sha]

    base = tsp.BaseServiceInformation(
        service_type=data["service_type"], service_name=data["service_name"],
        valid_from=datetime.fromisoformat(data["valid_from"]),
        valid_until=datetime.fromisoformat(data["valid_until"]) if data["valid_until"] else None,
        provider_certs=tuple(cert(sha) for sha in data["certificates"]),
        additional_info_certificate_type=frozenset(tsp.QcCertType(t) for t in data["qc_types"]),
        other_additional_info=frozenset(
            tsp.AdditionalServiceInformation(uri=u, critical=c, textual_info=t)
            for u, c, t in data["other_info"]))
    qualifications = frozenset(
        tsp.Qualification(qualifiers=frozenset(tsp.Qualifier(q) for q in item["qualifiers"]),
                          criteria_list=_criterion_from_json(item["criteria"]))
        for item in data["qualifications"])
    if data["kind"] == "ca":
        expired = data["expired_certs_revocation_info"]
        return tsp.CAServiceInformation(
            base_info=base, qualifications=qualifications,
            expired_certs_revocation_info=datetime.fromisoformat(expired) if expired else None)
    return tsp.QTSTServiceInformation(base_info=base, qualifications=qualifications)


def _criterion_from_json(data: Mapping[str, Any]) -> Any:
    from pyhanko.sign.validation.qualified import tsp
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    if "combine" in data:
        return tsp.CriteriaList(combine_as=tsp.CriteriaCombination(data["combine"]),
                                criteria=frozenset(_criterion_from_json(c)
                                                   for c in data["criteria"]))
    if "policies" in data:
        return tsp.PolicySetCriterion(required_policy_oids=frozenset(data["policies"]))
    if "subject_attributes" in data:
        return tsp.CertSubjectDNCriterion(frozenset(data["subject_attributes"]))
    if data["extd_key_usage"] is not None:
        # As pyhanko builds an extended key usage criterion (ExtendedKeyUsage in the list).
        return tsp.KeyUsageCriterion(settings=KeyUsageConstraints(
            extd_key_usage=frozenset(data["extd_key_usage"])))
    return tsp.KeyUsageCriterion(settings=KeyUsageConstraints(
        key_usage=frozenset(data["key_usage"]),
        key_usage_forbidden=frozenset(data["key_usage_forbidden"])))


# --- refresh and load -----------------------------------------------------------------------


def refresh(folder: Path | None = None, *, lotl_url: str = EU_LOTL_URL,
            territories: Iterable[str] | None = None, mirrors: Mapping[str, str] | None = None,
            at: datetime | None = None, fetch: Fetch = fetch_url) -> RefreshResult:
    """Fetch and verify the LOTL, then the lists of `territories` (default: every one it names)
    from the addresses it gives, or from `mirrors` (territory -> URL); store those that verify.

    A LOTL that does not verify raises `TrustListRefused` and changes nothing. A member state's
    list that cannot be fetched or does not verify is refused and named in the result; the one
    stored for that territory before, if any, is kept.
    """
    folder = trust_store_path() if folder is None else folder
    at = _moment(at)
    mirrors = {k.upper(): v for k, v in (mirrors or {}).items()}
    lotl = verify_lotl(fetch(lotl_url), source=lotl_url, at=at)
    by_territory = {p.territory.upper(): p for p in lotl.pointers}
    wanted = ([t.upper() for t in territories] if territories
              else sorted(set(by_territory) | set(mirrors)))
    wanted = list(dict.fromkeys([*wanted, *(t for t in mirrors if t not in wanted)]))
    verified: list[VerifiedList] = []
    refused: dict[str, str] = {}
    for territory in wanted:
        pointer = by_territory.get(territory)
        if pointer is None:
            refused[territory] = "the LOTL names no list for this territory"
            continue
        url = mirrors.get(territory, pointer.location_uri)
        try:
            verified.append(verify_trusted_list(
                fetch(url), source=url, tlso_certs=pointer.tlso_certs, at=at,
                territory=territory))
        except TrustListRefused as e:
            refused[territory] = e.reason
    stored_before = {i.territory: i for i in store_lists(folder, [lotl, *verified])}
    kept = tuple(stored_before[t] for t in refused if t in stored_before)
    return RefreshResult(folder=folder, lotl=lotl.info, stored=tuple(v.info for v in verified),
                         refused=refused, kept=kept)


def load_file(path: Path, folder: Path | None = None, *, unsigned_ok: bool = False,
              at: datetime | None = None) -> LoadResult:
    """Load a list from a file: the LOTL (verified against the Official Journal's
    certificates), or a member state's list (verified against the certificates the stored LOTL
    names for it). One that does not verify is refused, unless `unsigned_ok`."""
    folder = trust_store_path() if folder is None else folder
    try:
        with path.open("rb") as f:
            xml = f.read(MAX_LIST_BYTES + 1)
    except OSError as e:
        raise TrustListRefused(str(path), f"cannot read: {e.strerror or e}") from e
    source = path.name
    if _is_lotl(_raw(_text(xml, source), source)):
        verified = verify_lotl(xml, source=source, at=at)
    else:
        territory = _scheme_territory(_raw(_text(xml, source), source), source)
        verified = verify_trusted_list(xml, source=source, at=at, unsigned_ok=unsigned_ok,
                                       tlso_certs=stored_tlso_certs(folder, territory))
    before = store_lists(folder, [verified])
    previous = next((i for i in before if i.territory == verified.info.territory), None)
    return LoadResult(folder=folder, info=verified.info, entries=verified.entries,
                      replaced_sequence_number=previous.sequence_number if previous else None)


def stored_tlso_certs(folder: Path, territory: str) -> list[asn1_x509.Certificate]:
    """The certificates the stored (verified) LOTL names for `territory`'s list; [] if none."""

    index = _read_index(folder)
    lotl = index["lists"].get(LOTL_TERRITORY)
    path = folder / LISTS / f"{LOTL_TERRITORY}.xml"
    if not lotl or not lotl["signature"]["verified"] or not path.is_file():
        return []
    xml = path.read_bytes()
    if hashlib.sha256(xml).hexdigest() != lotl["sha256"]:
        raise TrustStoreInvalid(folder, f"{LISTS}/{path.name} is not the LOTL index.json names")
    # Verified when it was stored; its pointers are read from the signed content again.
    lotl_list = verify_lotl(xml, source=path.name, at=datetime.fromisoformat(
        lotl["signature"]["checked_at"]))
    return [c for p in lotl_list.pointers if p.territory.upper() == territory
            for c in p.tlso_certs]


# --- the store on disk ----------------------------------------------------------------------


def store_lists(folder: Path, lists: Sequence[VerifiedList]) -> tuple[ListInfo, ...]:
    """Write `lists` into the store in `folder`, each replacing its territory's; the lists
    stored before. A list older than the stored one of its territory is refused
    (`TrustListOutdated`) and nothing is written."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LISTS).mkdir(exist_ok=True)
    with _locked(folder):
        index = _read_index(folder)
        before = tuple(ListInfo.from_json(v) for v in index["lists"].values())
        stored = {i.territory: i for i in before}
        for item in lists:
            old = stored.get(item.info.territory)
            if old is not None and old.sequence_number > item.info.sequence_number:
                raise TrustListOutdated(item.info.territory, item.info.sequence_number,
                                        old.sequence_number)
        services = _read_services(folder)
        replaced = {item.info.territory for item in lists}
        entries = [e for e in _index_entries(index, folder) if e.territory not in replaced]
        for item in lists:
            _write_atomically(folder / LISTS / f"{item.info.territory}.xml", item.xml)
            for sha, cert in item.certificates.items():
                path = folder / f"{sha}.pem"
                data = asn1_pem.armor("CERTIFICATE", cert.dump())
                if not path.is_file() or path.read_bytes() != data:
                    _write_atomically(path, data)
            if not item.info.is_lotl:  # the LOTL names lists, not services
                services[item.info.territory] = list(item.services)
            index["lists"][item.info.territory] = item.info.to_json()
            entries.extend(item.entries)
        entries.sort(key=lambda e: (e.territory, e.subject, e.sha256))
        _write_atomically(folder / SERVICES, _dump(
            {"format": INDEX_FORMAT, "services": dict(sorted(services.items()))}))
        _write_atomically(folder / INDEX, _dump(
            {"format": INDEX_FORMAT, "lists": dict(sorted(index["lists"].items())),
             "certificates": [e.to_json() for e in entries]}))
        # After the index: a crash in between leaves an unlisted file, never a listed hole.
        needed = {e.sha256 for e in entries} | {
            sha for items in services.values() for s in items for sha in s["certificates"]}
        for path in folder.iterdir():
            if _PEM_NAME.match(path.name) and path.name[:-4] not in needed:
                path.unlink()
    return before


def load_trust_store(folder: Path) -> TrustStoreData:
    """What the store in `folder` holds (empty if nothing was loaded yet)."""
    if not (folder / INDEX).is_file():
        return TrustStoreData()
    index = _read_index(folder)
    try:
        lists = tuple(ListInfo.from_json(v) for v in index["lists"].values())
    except (KeyError, TypeError, ValueError) as e:
        raise TrustStoreInvalid(folder, f"{INDEX} has a damaged list entry: {e!r}") from e
    entries = _index_entries(index, folder)
    services = _read_services(folder)
    ders: dict[str, bytes] = {}
    for sha in dict.fromkeys([*(e.sha256 for e in entries),
                              *(sha for items in services.values() for s in items
                                for sha in s["certificates"])]):
        ders[sha] = _read_stored_certificate(folder, sha)
    roots = {e.sha256: asn1_x509.Certificate.load(ders[e.sha256]) for e in entries}
    by_key: dict[str, list[str]] = {}
    listed: dict[str, tuple[str, str, str, str]] = {}
    for entry in entries:
        cert = roots[entry.sha256]
        listed[_key(cert.subject, cert.public_key)] = (
            entry.territory, entry.service_name, entry.status_name,
            entry.status_since.date().isoformat())
    for items in services.values():
        for service in items:
            text = json.dumps(service, sort_keys=True)
            for sha in service["certificates"]:
                cert = asn1_x509.Certificate.load(ders[sha])
                by_key.setdefault(_key(cert.subject, cert.public_key), []).append(text)
    trusted_lists = TrustedLists(
        services={k: tuple(dict.fromkeys(v)) for k, v in by_key.items()}, listed=listed,
        certificates=ders, notes={i.territory: i.note for i in lists if i.note})
    return TrustStoreData(
        lists=lists, entries=entries, roots=tuple(roots.values()),
        qualified=frozenset(bytes.fromhex(e.sha256) for e in entries if e.qualified),
        trusted_lists=trusted_lists)


def _read_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    if not path.is_file():
        return {"format": INDEX_FORMAT, "lists": {}, "certificates": []}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TrustStoreInvalid(folder, f"{INDEX} is unreadable: {e}") from e
    if isinstance(index, dict) and index.get("format") == 1:
        raise TrustStoreInvalid(folder, f"{INDEX} was written by an older version, from lists "
                                        "whose signatures were not verified: run `docservice "
                                        "trust refresh` (or `trust load`) again")
    if (not isinstance(index, dict) or index.get("format") != INDEX_FORMAT
            or not isinstance(index.get("lists"), dict)
            or not isinstance(index.get("certificates"), list)):
        raise TrustStoreInvalid(folder, f"{INDEX} is not a format {INDEX_FORMAT} trust index")
    return index


def _read_services(folder: Path) -> dict[str, list[dict[str, Any]]]:
    path = folder / SERVICES
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        services = data["services"]
        if data.get("format") != INDEX_FORMAT or not isinstance(services, dict):
            raise ValueError("not a format 2 services cache")
        return {str(k): list(v) for k, v in services.items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TrustStoreInvalid(folder, f"{SERVICES} is unreadable: {e}") from e


def _index_entries(index: Mapping[str, Any], folder: Path) -> tuple[TrustStoreEntry, ...]:
    try:
        return tuple(TrustStoreEntry.from_json(e) for e in index["certificates"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise TrustStoreInvalid(folder, f"{INDEX} has a damaged entry: {e!r}") from e


def _read_stored_certificate(folder: Path, sha256: str) -> bytes:
    path = folder / f"{sha256}.pem"
    try:
        _, _, der = asn1_pem.unarmor(path.read_bytes())
    except (OSError, ValueError) as e:
        raise TrustStoreInvalid(folder, f"{path.name} is missing or unreadable: {e}") from e
    if hashlib.sha256(der).hexdigest() != sha256:
        raise TrustStoreInvalid(folder, f"{path.name} does not hold the certificate its name "
                                        "says (altered?); refresh the trusted lists")
    return bytes(der)


def _dump(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the store's lock, so that two refreshes never interleave their writes."""
    with (folder / LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _moment(at: datetime | None) -> datetime:
    # Explicit, never left to the XML verifier's own clock: a pinned test time reaches it too.
    return (at or datetime.now(UTC)).astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
