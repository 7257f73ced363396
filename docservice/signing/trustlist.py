"""EU trusted lists (ETSI TS 119 612) and the trust store built from them.

A member state's trusted list names its qualified trust service providers and, per service,
a type (CA/QC issues qualified certificates, TSA/QTST gives qualified timestamps, ...), a
status (granted, withdrawn, ...) and the certificates that identify it. `docservice trust load`
keeps the certificates of the CA/QC services in a trust store folder (default
``<checkout>/signatures/trust``, or ``$DOCSERVICE_TRUST_PATH``)::

    index.json             what is stored: the lists loaded (one per territory) and, per
                           certificate, its subject, expiry, territory, TSP, service and status
    <sha256 of DER>.pem    one certificate of a CA/QC service, named by its SHA-256

Every stored certificate is a trust anchor for chain building; those of a CA/QC service that
is granted (or in a pre-eIDAS equivalent status) for electronic signatures are "qualified":
a chain through one of them was issued by a qualified CA. Whether the signer's own certificate
is a qualified one (its QcStatements, the list's Qualifications extension) and what the status
was at signing time (the service history) are for the verifier to judge.

The list's own XML signature is not verified here: an administrator loads the file from a
source they trust. The XML is still treated as hostile input: no DTD, no entities, no network.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from lxml import etree

from docservice.config import CHECKOUT
from docservice.errors import DocserviceError

TRUST_PATH_ENV = "DOCSERVICE_TRUST_PATH"
DEFAULT_TRUST_PATH = CHECKOUT / "signatures" / "trust"
INDEX = "index.json"
INDEX_FORMAT = 1
LOCK = ".lock"
MAX_LIST_BYTES = 64 * 1024 * 1024  # the largest EU lists are a few MB

TSL_NS = "http://uri.etsi.org/02231/v2#"
SERVICE_TYPE_CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
SERVICE_TYPE_TSA_QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"
SVC_INFO_EXT = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
FOR_E_SIGNATURES = SVC_INFO_EXT + "ForeSignatures"
# A service that names any of these serves only the usages it names; one that names none
# (lists written before eIDAS) issues certificates for e-signatures.
USAGE_INFORMATION = frozenset(
    SVC_INFO_EXT + usage for usage in ("ForeSignatures", "ForeSeals", "ForWebSiteAuthentication"))
# "granted" and its equivalents under Directive 1999/93/EC (ETSI TS 119 612 annex, as DSS maps
# them); the URIs differ between versions of the standard, their last segment does not.
QUALIFYING_STATUSES = frozenset(
    ("granted", "undersupervision", "supervisionincessation", "accredited", "setbynationallaw"))
LIST_OF_THE_LISTS = "EUlistofthelists"

_PEM_NAME = re.compile(r"^[0-9a-f]{64}\.pem$")
_TERRITORY = re.compile(r"^[A-Z]{2}$")
_CN = re.compile(r"(?:^|,)CN=((?:[^,\\]|\\.)*)")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class TrustListInvalid(DocserviceError):
    """A file is not a trusted list this service can use; nothing was stored."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"trusted list {source}: {reason}")
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
class StatusPeriod:
    """One earlier entry of a service's history: its type and status from a moment on."""

    service_type: str
    status: str
    starting_time: datetime


@dataclass(frozen=True)
class TrustService:
    """One service of a trust service provider, as its current entry in the list describes it."""

    tsp_name: str
    service_type: str
    service_name: str
    status: str
    status_starting_time: datetime
    certificates: tuple[asn1_x509.Certificate, ...] = field(repr=False)
    additional_information: tuple[str, ...] = ()
    history: tuple[StatusPeriod, ...] = ()

    @property
    def is_ca_qc(self) -> bool:
        """Whether the service issues qualified certificates (type CA/QC)."""
        return self.service_type == SERVICE_TYPE_CA_QC

    @property
    def qualified_for_esignatures(self) -> bool:
        """CA/QC, granted (or a pre-eIDAS equivalent), and for e-signatures if usages are named."""
        if not self.is_ca_qc or _last_segment(self.status) not in QUALIFYING_STATUSES:
            return False
        usages = USAGE_INFORMATION.intersection(self.additional_information)
        return not usages or FOR_E_SIGNATURES in usages


@dataclass(frozen=True)
class TrustedList:
    """A member state's trusted list: scheme information and every service it lists."""

    territory: str
    sequence_number: int
    issued_at: datetime
    next_update: datetime | None  # None: the list is closed
    list_type: str
    services: tuple[TrustService, ...]

    @property
    def ca_services(self) -> tuple[TrustService, ...]:
        """The services that issue qualified certificates (type CA/QC), whatever their status."""
        return tuple(s for s in self.services if s.is_ca_qc)

    def is_stale(self, now: datetime) -> bool:
        """Whether the list's next update was due before `now` (a newer list exists)."""
        return self.next_update is None or self.next_update < now


@dataclass(frozen=True)
class TrustStoreEntry:
    """One certificate of the trust store, as index.json describes it."""

    sha256: str
    subject: str
    not_after: datetime
    territory: str
    tsp: str
    service_name: str
    service_type: str
    status: str
    status_since: datetime
    qualified: bool
    source: str
    sequence_number: int

    @property
    def common_name(self) -> str:
        """The CN of the subject (the whole subject if it has none)."""
        match = _CN.search(self.subject)
        return re.sub(r"\\(.)", r"\1", match.group(1)) if match else self.subject

    @property
    def status_name(self) -> str:
        """The status without its URI prefix: granted, withdrawn, ..."""
        return _last_segment(self.status)

    def to_json(self) -> dict[str, Any]:
        """The entry as written in index.json."""
        return {
            "sha256": self.sha256, "subject": self.subject,
            "not_after": self.not_after.isoformat(), "territory": self.territory,
            "tsp": self.tsp, "service_name": self.service_name,
            "service_type": self.service_type, "status": self.status,
            "status_since": self.status_since.isoformat(), "qualified": self.qualified,
            "source": self.source, "sequence_number": self.sequence_number,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrustStoreEntry:
        """An entry read back from index.json (KeyError, TypeError, ValueError when damaged)."""
        sha256 = data["sha256"]
        if not isinstance(sha256, str) or not _PEM_NAME.match(sha256 + ".pem"):
            raise ValueError(f"bad sha256 {sha256!r}")
        return cls(
            sha256=sha256, subject=str(data["subject"]),
            not_after=datetime.fromisoformat(data["not_after"]),
            territory=str(data["territory"]), tsp=str(data["tsp"]),
            service_name=str(data["service_name"]), service_type=str(data["service_type"]),
            status=str(data["status"]), status_since=datetime.fromisoformat(data["status_since"]),
            qualified=bool(data["qualified"]), source=str(data["source"]),
            sequence_number=int(data["sequence_number"]),
        )


@dataclass(frozen=True)
class TrustStoreData:
    """What a validator takes from the trust store: anchors, and which of them are qualified."""

    roots: tuple[asn1_x509.Certificate, ...] = ()
    qualified: frozenset[bytes] = frozenset()  # SHA-256 of the DER of qualified CA certificates
    entries: tuple[TrustStoreEntry, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    """What `load_trusted_list` stored for one territory."""

    folder: Path
    trusted_list: TrustedList
    entries: tuple[TrustStoreEntry, ...]
    replaced_sequence_number: int | None  # the territory's list stored before, if any

    @property
    def qualified_count(self) -> int:
        """How many stored CA/QC identities are qualified for e-signatures."""
        return sum(e.qualified for e in self.entries)

    @property
    def belgian_eid_roots(self) -> tuple[TrustStoreEntry, ...]:
        """The Belgian eID roots (Belgium Root CA, CA2, ...) among the stored identities."""
        return tuple(e for e in self.entries if _is_belgian_eid_root(e))


class HasQualified(Protocol):
    """Anything that knows the SHA-256 of qualified CA certificates (a store, a Trust)."""

    @property
    def qualified(self) -> frozenset[bytes]: ...


def trust_store_path(env: Mapping[str, str] | None = None) -> Path:
    """The trust store folder: ``$DOCSERVICE_TRUST_PATH``, else ``<checkout>/signatures/trust``."""
    value = (os.environ if env is None else env).get(TRUST_PATH_ENV)
    return Path(value).expanduser().resolve() if value else DEFAULT_TRUST_PATH


def parse_trusted_list(xml: bytes, *, source: str = "<memory>") -> TrustedList:
    """Parse an ETSI TS 119 612 trusted list; its XML signature is NOT verified.

    The caller vouches for where the file comes from (an administrator loading a list from its
    publication address). The structure is checked, and anything that is not a member state's
    trusted list, or holds a DTD (entity expansion), is refused with `TrustListInvalid`.
    """
    root = _parse_xml(xml, source)
    if root.tag != _q("TrustServiceStatusList"):
        raise TrustListInvalid(source, "not an ETSI TS 119 612 trusted list (root element "
                                       f"{etree.QName(root).localname!r})")
    info = _child(root, source, "SchemeInformation")
    list_type = _text(info, source, "TSLType")
    if list_type.endswith(LIST_OF_THE_LISTS):
        raise TrustListInvalid(source, "this is the EU list of trusted lists, which names no "
                                       "CAs; load a member state's trusted list")
    territory = _text(info, source, "SchemeTerritory")
    if not _TERRITORY.match(territory):
        raise TrustListInvalid(source, f"SchemeTerritory {territory!r} is not a country code")
    sequence_text = _text(info, source, "TSLSequenceNumber")
    if not sequence_text.isdigit():
        raise TrustListInvalid(source, f"TSLSequenceNumber {sequence_text!r} is not a number")
    issued_at = _datetime(_text(info, source, "ListIssueDateTime"), source, "ListIssueDateTime")
    next_update = None
    next_update_el = info.find(_q("NextUpdate"))
    if next_update_el is not None and (next_update_el.findtext(_q("dateTime")) or "").strip():
        next_update = _datetime(_text(next_update_el, source, "dateTime"), source, "NextUpdate")

    services = []
    for tsp in root.iterfind(f"{_q('TrustServiceProviderList')}/{_q('TrustServiceProvider')}"):
        tsp_name = _name(_child(_child(tsp, source, "TSPInformation"), source, "TSPName"))
        where = f"TSP {tsp_name!r}"
        for number, service in enumerate(
                tsp.iterfind(f"{_q('TSPServices')}/{_q('TSPService')}"), start=1):
            services.append(_service(service, tsp_name, source, f"{where}, service {number}"))
    return TrustedList(
        territory=territory, sequence_number=int(sequence_text), issued_at=issued_at,
        next_update=next_update, list_type=list_type, services=tuple(services),
    )


def read_trusted_list(path: Path) -> TrustedList:
    """Read and parse a trusted list file (see `parse_trusted_list`)."""
    try:
        with path.open("rb") as f:
            xml = f.read(MAX_LIST_BYTES + 1)
    except OSError as e:
        raise TrustListInvalid(str(path), f"cannot read: {e.strerror or e}") from e
    if len(xml) > MAX_LIST_BYTES:
        raise TrustListInvalid(str(path), f"larger than {MAX_LIST_BYTES // 2**20} MB")
    return parse_trusted_list(xml, source=str(path))


def load_trusted_list(path: Path, folder: Path | None = None) -> LoadResult:
    """Parse the list at `path` and store its CA/QC identities, replacing its territory's.

    Loading the same list again changes nothing; a list older than the stored one of its
    territory is refused (`TrustListOutdated`). Nothing is written unless the list is valid.
    """
    trusted_list = read_trusted_list(path)
    return store_trusted_list(trusted_list, trust_store_path() if folder is None else folder,
                              source=path.name)


def store_trusted_list(trusted_list: TrustedList, folder: Path, *, source: str) -> LoadResult:
    """Write `trusted_list`'s CA/QC identities into the store in `folder` (see module docs)."""
    entries, certificates = _entries(trusted_list, source)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        index = _read_index(folder)
        lists: dict[str, Any] = index["lists"]
        stored = lists.get(trusted_list.territory)
        stored_sequence = int(stored["sequence_number"]) if stored else None
        if stored_sequence is not None and stored_sequence > trusted_list.sequence_number:
            raise TrustListOutdated(trusted_list.territory, trusted_list.sequence_number,
                                    stored_sequence)
        kept = [e for e in _index_entries(index, folder) if e.territory != trusted_list.territory]
        for sha256, certificate in certificates.items():
            pem = asn1_pem.armor("CERTIFICATE", certificate.dump())
            path = folder / f"{sha256}.pem"
            if not path.is_file() or path.read_bytes() != pem:
                _write_atomically(path, pem)
        lists[trusted_list.territory] = {
            "sequence_number": trusted_list.sequence_number,
            "issued_at": trusted_list.issued_at.isoformat(),
            "next_update": (trusted_list.next_update.isoformat()
                            if trusted_list.next_update else None),
            "source": source,
        }
        every = sorted([*kept, *entries], key=lambda e: (e.territory, e.subject, e.sha256))
        _write_atomically(folder / INDEX, _dump_index(
            {"format": INDEX_FORMAT, "lists": dict(sorted(lists.items())),
             "certificates": [e.to_json() for e in every]}))
        # After the index: a crash in between leaves an unlisted file, never a listed hole.
        listed = {e.sha256 for e in every}
        for path in folder.iterdir():
            if _PEM_NAME.match(path.name) and path.name[:-4] not in listed:
                path.unlink()
    return LoadResult(folder=folder, trusted_list=trusted_list, entries=tuple(entries),
                      replaced_sequence_number=stored_sequence)


def load_trust_store(folder: Path) -> TrustStoreData:
    """The anchors and qualified set of the store in `folder` (empty if none was loaded yet).

    Combine with the service's own PKI as
    ``Trust(roots=pki.trust_roots + store.roots, qualified=store.qualified, crls=pki.crls)``.
    """
    if not (folder / INDEX).is_file():
        return TrustStoreData()
    entries = _index_entries(_read_index(folder), folder)
    roots: dict[str, asn1_x509.Certificate] = {}
    for entry in entries:
        if entry.sha256 not in roots:
            roots[entry.sha256] = _read_stored_certificate(folder, entry.sha256)
    qualified = frozenset(bytes.fromhex(e.sha256) for e in entries if e.qualified)
    return TrustStoreData(roots=tuple(roots.values()), qualified=qualified, entries=entries)


def is_qualified(certificate_chain: Iterable[asn1_x509.Certificate], store: HasQualified) -> bool:
    """Whether any certificate of the chain (anchor or intermediate) is a qualified CA's."""
    return any(c.sha256 in store.qualified for c in certificate_chain)


def _parse_xml(xml: bytes, source: str) -> Any:
    if len(xml) > MAX_LIST_BYTES:
        raise TrustListInvalid(source, f"larger than {MAX_LIST_BYTES // 2**20} MB")
    # Refused before parsing when visible in the bytes, and after parsing in any encoding.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise TrustListInvalid(source, "contains a DTD or entity declarations, which a trusted "
                                       "list never has (refused: entity expansion attack)")
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError) as e:
        reason = e.msg if isinstance(e, etree.XMLSyntaxError) else str(e)
        raise TrustListInvalid(source, f"not well-formed XML: {reason}") from e
    if root is None:
        raise TrustListInvalid(source, "empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise TrustListInvalid(source, "contains a DTD, which a trusted list never has "
                                       "(refused: entity expansion attack)")
    return root


def _service(service: Any, tsp_name: str, source: str, where: str) -> TrustService:
    info = _child(service, source, "ServiceInformation", where)
    name_el = info.find(_q("ServiceName"))
    service_name = _name(name_el) if name_el is not None else ""
    where = f"{where} ({service_name!r})" if service_name else where
    status_time = _text(info, source, "StatusStartingTime", where)
    certificates = []
    identity = _child(info, source, "ServiceDigitalIdentity", where)
    for number, element in enumerate(identity.iterfind(f"{_q('DigitalId')}/{_q('X509Certificate')}"),
                                     start=1):
        certificates.append(_certificate(element.text or "", source,
                                         f"{where}, certificate {number}"))
    history = tuple(
        StatusPeriod(
            service_type=_text(h, source, "ServiceTypeIdentifier", f"{where}, history"),
            status=_text(h, source, "ServiceStatus", f"{where}, history"),
            starting_time=_datetime(_text(h, source, "StatusStartingTime", f"{where}, history"),
                                    source, f"{where}, history StatusStartingTime"),
        )
        for h in service.iterfind(f"{_q('ServiceHistory')}/{_q('ServiceHistoryInstance')}")
    )
    additional_information = tuple(
        (uri.text or "").strip() for uri in info.iterfind(
            f"{_q('ServiceInformationExtensions')}/{_q('Extension')}/"
            f"{_q('AdditionalServiceInformation')}/{_q('URI')}"))
    return TrustService(
        tsp_name=tsp_name,
        service_type=_text(info, source, "ServiceTypeIdentifier", where),
        service_name=service_name,
        status=_text(info, source, "ServiceStatus", where),
        status_starting_time=_datetime(status_time, source, f"{where}, StatusStartingTime"),
        certificates=tuple(certificates),
        additional_information=additional_information,
        history=history,
    )


def _certificate(text: str, source: str, where: str) -> asn1_x509.Certificate:
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        certificate = asn1_x509.Certificate.load(der, strict=True)
        try:
            x509.load_der_x509_certificate(der)  # a full parse, fast
        except ValueError:
            # Stricter than asn1crypto about some old encodings, which pyhanko reads: parse
            # with asn1crypto down to the last field (it is lazy) so garbage still fails here.
            certificate.native  # noqa: B018
    except (binascii.Error, ValueError, TypeError) as e:
        raise TrustListInvalid(source, f"{where} is not a base64 DER certificate: {e}") from e
    return certificate


def _entries(trusted_list: TrustedList, source: str
             ) -> tuple[list[TrustStoreEntry], dict[str, asn1_x509.Certificate]]:
    """One entry per distinct CA/QC certificate; a qualifying service wins over another."""
    chosen: dict[str, tuple[TrustService, asn1_x509.Certificate]] = {}
    for service in trusted_list.ca_services:
        for certificate in service.certificates:
            sha256 = certificate.sha256.hex()
            if sha256 not in chosen or (service.qualified_for_esignatures
                                        and not chosen[sha256][0].qualified_for_esignatures):
                chosen[sha256] = (service, certificate)
    entries = [
        TrustStoreEntry(
            sha256=sha256, subject=_subject(certificate),
            not_after=certificate.not_valid_after, territory=trusted_list.territory,
            tsp=service.tsp_name, service_name=service.service_name,
            service_type=service.service_type, status=service.status,
            status_since=service.status_starting_time,
            qualified=service.qualified_for_esignatures, source=source,
            sequence_number=trusted_list.sequence_number,
        )
        for sha256, (service, certificate) in chosen.items()
    ]
    entries.sort(key=lambda e: (e.subject, e.sha256))
    return entries, {sha256: certificate for sha256, (_, certificate) in chosen.items()}


def _subject(certificate: asn1_x509.Certificate) -> str:
    try:
        return x509.load_der_x509_certificate(certificate.dump()).subject.rfc4514_string()
    except ValueError:  # stricter than asn1crypto about some old encodings
        return str(certificate.subject.human_friendly)


def _is_belgian_eid_root(entry: TrustStoreEntry) -> bool:
    return re.fullmatch(r"Belgium Root CA\d*", entry.common_name) is not None


def _read_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    if not path.is_file():
        return {"format": INDEX_FORMAT, "lists": {}, "certificates": []}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TrustStoreInvalid(folder, f"{INDEX} is unreadable: {e}") from e
    if (not isinstance(index, dict) or index.get("format") != INDEX_FORMAT
            or not isinstance(index.get("lists"), dict)
            or not isinstance(index.get("certificates"), list)):
        raise TrustStoreInvalid(folder, f"{INDEX} is not a format {INDEX_FORMAT} trust index")
    return index


def _index_entries(index: Mapping[str, Any], folder: Path) -> tuple[TrustStoreEntry, ...]:
    try:
        return tuple(TrustStoreEntry.from_json(e) for e in index["certificates"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise TrustStoreInvalid(folder, f"{INDEX} has a damaged entry: {e!r}") from e


def _read_stored_certificate(folder: Path, sha256: str) -> asn1_x509.Certificate:
    path = folder / f"{sha256}.pem"
    try:
        _, _, der = asn1_pem.unarmor(path.read_bytes())
    except (OSError, ValueError) as e:
        raise TrustStoreInvalid(folder, f"{path.name} is missing or unreadable: {e}") from e
    if hashlib.sha256(der).hexdigest() != sha256:
        raise TrustStoreInvalid(folder, f"{path.name} does not hold the certificate its name "
                                        "says (altered?); load the trusted list again")
    return asn1_x509.Certificate.load(der)


def _dump_index(index: Mapping[str, Any]) -> bytes:
    return (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the store's lock, so that two loads never interleave their writes."""
    with (folder / LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _q(name: str) -> str:
    return f"{{{TSL_NS}}}{name}"


def _child(parent: Any, source: str, name: str, where: str = "") -> Any:
    element = parent.find(_q(name))
    if element is None:
        parent_name = etree.QName(parent).localname
        raise TrustListInvalid(source, f"{where + ': ' if where else ''}"
                                       f"{parent_name} lacks {name}")
    return element


def _text(parent: Any, source: str, name: str, where: str = "") -> str:
    text = (_child(parent, source, name, where).text or "").strip()
    if not text:
        raise TrustListInvalid(source, f"{where + ': ' if where else ''}{name} is empty")
    return text


def _name(element: Any) -> str:
    """The English name of a multilingual name element, else its first name."""
    names = [(n.get(_XML_LANG), (n.text or "").strip()) for n in element.iterfind(_q("Name"))]
    for lang, text in names:
        if lang == "en" and text:
            return text
    return next((text for _, text in names if text), "")


def _datetime(text: str, source: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise TrustListInvalid(source, f"{what} {text!r} is not a date and time") from e
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
