"""The trust store's vocabulary: what a stored list, identity and service say
(services as JSON too: the form they are stored in and cross into the verification child)."""


from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509

from docservice.errors import DocserviceError

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


def authority_key(authority: Any) -> str:
    """The key of a CA as pyhanko compares them (subject and public key)."""
    return _key(authority.name, authority.public_key)


def _key(subject: asn1_x509.Name, public_key: Any) -> str:
    return hashlib.sha256(subject.hashable.encode() + b"\0" + public_key.dump()).hexdigest()


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


def _moment(at: datetime | None) -> datetime:
    # Explicit, never left to the XML verifier's own clock: a pinned test time reaches it too.
    return (at or datetime.now(UTC)).astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
