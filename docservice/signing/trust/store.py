"""The trust store on disk: refresh from the EU, load a file, store the verified lists, read it back."""


from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from docservice.domain import sha256_hex
from docservice.signing.trust.lists import (
    _is_lotl,
    _raw,
    _scheme_territory,
    _text,
    fetch_url,
    verify_lotl,
    verify_trusted_list,
)
from docservice.signing.trust.model import (
    _PEM_NAME,
    EU_LOTL_URL,
    INDEX,
    INDEX_FORMAT,
    LISTS,
    LOCK,
    LOTL_TERRITORY,
    MAX_LIST_BYTES,
    SERVICES,
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
    _key,
    _moment,
)

# --- refresh and load -----------------------------------------------------------------------


def refresh(folder: Path, *, lotl_url: str = EU_LOTL_URL,
            territories: Iterable[str] | None = None, mirrors: Mapping[str, str] | None = None,
            at: datetime | None = None, fetch: Fetch = fetch_url) -> RefreshResult:
    """Fetch and verify the LOTL, then the lists of `territories` (default: every one it names)
    from the addresses it gives, or from `mirrors` (territory -> URL); store those that verify.

    A LOTL that does not verify raises `TrustListRefused` and changes nothing. A member state's
    list that cannot be fetched or does not verify is refused and named in the result; the one
    stored for that territory before, if any, is kept.
    """
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


def load_file(path: Path, folder: Path, *, unsigned_ok: bool = False,
              at: datetime | None = None) -> LoadResult:
    """Load a list from a file: the LOTL (verified against the Official Journal's
    certificates), or a member state's list (verified against the certificates the stored LOTL
    names for it). One that does not verify is refused, unless `unsigned_ok`."""
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
    if sha256_hex(xml) != lotl["sha256"]:
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
    if sha256_hex(der) != sha256:
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
