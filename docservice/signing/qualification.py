"""Qualification of one signature at its signing time (ETSI TS 119 615, TS 119 172-4).

pyhanko's `QualificationAssessor` reads the signer certificate's QcStatements and applies the
trusted lists' service definitions valid at the moment asked (status history, qualifiers):
qualified or not, for e-signatures, e-seals or websites, private key on a QSCD or not. From that
and the signature's own verdict follows the level, named as the EU DSS validator names them:

=================  ============================================================
QESig / QESeal     qualified certificate for signatures / seals, key on a QSCD
AdESig-QC / ...    qualified certificate, key not (known to be) on a QSCD
AdESig / AdESeal   advanced signature / seal, certificate not qualified
AdES               the certificate's type (signature or seal) is not known
Indeterminate ...  the signature itself is INDETERMINATE
N/A                the signature failed, or a document timestamp
=================  ============================================================

A certificate that declares itself qualified is qualified only when a trusted list confirms it
at signing time: a CA/QC service granted then, whose qualifiers do not say otherwise.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

#: How the EU DSS validator (and ETSI TS 119 102-2 reports it writes) name the levels.
URI_PREFIX = "urn:cef:dss:signatureQualification:"
QUALIFIED_LEVELS = frozenset({"QESig", "QESeal"})
_EID_CA = re.compile(r"^(Citizen|Foreigner) CA$|^Belgium Root CA\d*$")


@dataclass(frozen=True)
class Qualification:
    """The qualification level of one signature, and why."""

    level: str  # QESig, QESeal, AdESig-QC, AdESeal-QC, AdESig, AdESeal, AdES, N/A, ...
    reason: str
    qualified_certificate: bool = False
    qscd: bool = False
    certificate_type: str = "unknown"  # esig, eseal, wsa, unknown
    territory: str | None = None  # of the list that confirmed the certificate
    service: str | None = None
    belgian_eid: bool = False  # the chain runs through the Belgian eID CAs
    at: datetime | None = None  # the moment judged

    @property
    def qualified(self) -> bool:
        """A qualified electronic signature or seal (the legal equivalent of a handwritten one)."""
        return self.level in QUALIFIED_LEVELS

    @property
    def uri(self) -> str:
        """The level as a URI, for ETSI TS 119 102-2 reports."""
        return URI_PREFIX + self.level.replace(" ", "_")

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "reason": self.reason, "qualified": self.qualified,
                "qualified_certificate": self.qualified_certificate, "qscd": self.qscd,
                "certificate_type": self.certificate_type, "territory": self.territory,
                "service": self.service, "belgian_eid": self.belgian_eid,
                "at": self.at.isoformat() if self.at else None}


NOT_APPLICABLE = Qualification("N/A", "not a signature")


def label_nl(level: str | None, belgian_eid: bool = False) -> str:
    """The level in a word for the coordinator's desk: "gekwalificeerd, eID", ..."""
    if not level or level == "N/A":
        return ""
    if level.startswith("Indeterminate"):
        return "kwalificatie onbepaald"
    if level in QUALIFIED_LEVELS:
        return "gekwalificeerd" + (", eID" if belgian_eid else "")
    if level.endswith("-QC"):
        return "gekwalificeerd certificaat, geen QSCD"
    return "niet gekwalificeerd" + (" (zegel)" if "Seal" in level else "")


def qualify(path: Any, *, lists: Any, at: datetime | None, indication: str,
            role: str | None = None, kind: str = "signature",
            time_source: str = "its timestamp") -> Qualification:
    """The qualification of a signature whose certificate path is `path` (pyhanko's
    ValidationPath, None when no chain was found), judged as of `at` (when a timestamp proves
    it was signed; None: now) against `lists` (a `trust.TrustedLists`, or None: no trusted
    lists). `indication` is the signature's own verdict; `role` "school" marks the school's
    seal, whose certificate may not say that it is one."""
    if kind != "signature":
        return Qualification("N/A", "a document timestamp, not a signature")
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    when = (f"at the signing time {moment:%Y-%m-%d %H:%M} UTC proved by {time_source}"
            if at is not None else f"now ({moment:%Y-%m-%d %H:%M} UTC): nothing proves when it "
                                   "was signed")
    if path is None or getattr(path, "leaf", None) is None:
        return Qualification("N/A", "no certificate chain to a trusted anchor: no qualification",
                             at=moment)
    try:
        return _qualify(path, lists, moment, when, indication, role)
    except Exception as e:  # noqa: BLE001 - an odd certificate must not break the report
        log.warning("qualification failed", exc_info=True)
        return Qualification("AdES" if indication == "TOTAL_PASSED" else "N/A",
                             f"the qualification could not be determined: {e}", at=moment)


def _qualify(path: Any, lists: Any, moment: datetime, when: str, indication: str,
             role: str | None) -> Qualification:
    from pyhanko.sign.validation.qualified.assess import QualificationAssessor
    from pyhanko.sign.validation.qualified.tsp import QcCertType, TSPRegistry

    cert = path.leaf
    authorities = list(path.iter_authorities())
    registry = lists.registry_for(authorities) if lists is not None else TSPRegistry()
    result = QualificationAssessor(registry).check_entity_cert_qualified(path, moment=moment)
    status = result.status
    declared = QualificationAssessor._process_qc_statements(cert)
    definition = result.service_definition
    territory = lists.territory_of(definition) if lists is not None and definition else None
    eid = any(_EID_CA.match(str(a.name.native.get("common_name", ""))) and
              a.name.native.get("country_name") == "BE" for a in authorities)

    # Without a confirming service, the type is what the certificate says (QcType).
    qc_type = status.qc_type if definition is not None else declared.qc_type
    declares_type = bool(_qc_types(cert)) or definition is not None
    if qc_type == QcCertType.QC_ESEAL:
        kind = "eseal"
    elif qc_type == QcCertType.QC_WEB:
        kind = "wsa"
    elif not declares_type and not status.qualified and role == "school":
        kind = "eseal"  # the school's seal: an organisation's certificate that says nothing
    else:
        kind = "esig"  # EN 319 412-5: no QcType means a certificate for e-signatures
    qscd = status.qualified and status.qc_key_security.is_qscd
    what = {"esig": "Sig", "eseal": "Seal"}.get(kind)
    if what is None:
        level = "AdES"
    elif status.qualified:
        level = f"QE{what}" if qscd else f"AdE{what}-QC"
    else:
        level = f"AdE{what}"

    service = definition.base_info.service_name if definition else None
    if status.qualified:
        on = f"{service!r} on the {territory or '?'} trusted list" if service else "a trusted list"
        reason = (f"qualified certificate for {_TYPE_WORDS[kind]} "
                  f"({'private key on a QSCD' if qscd else 'no QSCD declared'}), "
                  f"confirmed by the granted CA/QC service {on} {when}")
    else:
        reason = _why_not(cert, declared.qualified, authorities, lists, definition, when)
        reason = f"certificate for {_TYPE_WORDS[kind]}, not a qualified one: {reason}"
    notes = [lists.notes[t] for t in _territories(authorities, lists)] if lists else []
    if notes:
        reason += "; NOTE: " + "; ".join(dict.fromkeys(notes))
    if indication == "TOTAL_FAILED":
        return Qualification("N/A", f"the signature failed validation, so it has no "
                                    f"qualification (its certificate: {reason})",
                             status.qualified, qscd, kind, territory, service, eid, moment)
    if indication != "TOTAL_PASSED":
        level = f"Indeterminate {level}"
    return Qualification(level, reason, status.qualified, qscd, kind, territory, service, eid,
                         moment)


_TYPE_WORDS = {"esig": "electronic signatures", "eseal": "electronic seals",
               "wsa": "website authentication", "unknown": "an unknown use"}


def _qc_types(cert: Any) -> list[str]:
    from pyhanko.sign.ades import qualified_asn1

    return [str(v.native) for s in qualified_asn1.get_qc_statements(cert)
            if s["statement_id"].native == "qc_type" for v in s["statement_info"]]


def _why_not(cert: Any, declares: bool, authorities: list[Any], lists: Any, definition: Any,
             when: str) -> str:
    from docservice.signing.trust import authority_key

    listed = [lists.listed[k] for k in map(authority_key, authorities)
              if lists is not None and k in lists.listed]
    if definition is not None:
        return (f"the service {definition.base_info.service_name!r} that issued it was granted "
                f"{when}, but the trusted list's qualifiers or the certificate do not make it a "
                "qualified certificate")
    if listed:
        territory, service, status, since = listed[0]
        return (f"its CA {service!r} is on the {territory} trusted list, but was not granted "
                f"{when} (its status: {status} since {since})")
    if declares:
        return (f"the certificate declares itself qualified (QcStatements), but no trusted list "
                f"confirms it {when}")
    if lists is None:
        return "the certificate does not declare itself qualified and no trusted list is loaded"
    return "the certificate does not declare itself qualified and no trusted list names its CA"


def _territories(authorities: list[Any], lists: Any) -> list[str]:
    from docservice.signing.trust import authority_key

    found = [lists.listed[k][0] for k in map(authority_key, authorities) if k in lists.listed]
    return [t for t in found if t in lists.notes]
