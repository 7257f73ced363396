"""EU trusted lists (ETSI TS 119 612), fetched and signature-verified by pyhanko; the trust store.

The EU's List of Trusted Lists (LOTL) is verified against the LOTL signing certificates
published in the Official Journal (shipped with pyhanko); each member state's list against the
certificates the verified LOTL names for its territory. pyhanko (`pyhanko[etsi]`) reads the
services and their status history; `docservice.signing.qualification` judges signatures with
them. `docservice trust refresh` fetches, `docservice trust load FILE.xml` loads a file
(offline sites), `docservice trust list` shows what is kept.

The store is a folder (``Settings.trust_path``: ``$DOCSERVICE_TRUST_PATH``, default
``<checkout>/signatures/trust``)::

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

from docservice.signing.trust.lists import (
    fetch_url,
    lotl_signer_certificates,
    verify_lotl,
    verify_trusted_list,
)
from docservice.signing.trust.model import (
    CA_QC,
    EU_LOTL_URL,
    FETCH_TIMEOUT,
    GRANTED,
    INDEX,
    INDEX_FORMAT,
    LISTS,
    LOCK,
    LOTL_TERRITORY,
    MAX_LIST_BYTES,
    SERVICES,
    TSA_QTST,
    Fetch,
    ListInfo,
    LoadResult,
    RefreshResult,
    TrustedLists,
    TrustListOutdated,
    TrustListRefused,
    TrustStoreData,
    TrustStoreEntry,
    TrustStoreInvalid,
    VerifiedList,
    authority_key,
)
from docservice.signing.trust.store import (
    load_file,
    load_trust_store,
    refresh,
    store_lists,
    stored_tlso_certs,
)

__all__ = [
    "CA_QC",
    "EU_LOTL_URL",
    "FETCH_TIMEOUT",
    "GRANTED",
    "INDEX",
    "INDEX_FORMAT",
    "LISTS",
    "LOCK",
    "LOTL_TERRITORY",
    "MAX_LIST_BYTES",
    "SERVICES",
    "TSA_QTST",
    "Fetch",
    "ListInfo",
    "LoadResult",
    "RefreshResult",
    "TrustListOutdated",
    "TrustListRefused",
    "TrustStoreData",
    "TrustStoreEntry",
    "TrustStoreInvalid",
    "TrustedLists",
    "VerifiedList",
    "authority_key",
    "fetch_url",
    "load_file",
    "load_trust_store",
    "lotl_signer_certificates",
    "refresh",
    "store_lists",
    "stored_tlso_certs",
    "verify_lotl",
    "verify_trusted_list",
]
