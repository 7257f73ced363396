"""EU trusted lists: parsing Belgium's real list, the trust store, and refusing hostile files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from click.testing import Result
from lxml import etree

from docservice import create_app
from docservice.cli import main
from docservice.signing.pki import Pki
from docservice.signing.trustlist import (
    INDEX,
    SERVICE_TYPE_CA_QC,
    SERVICE_TYPE_TSA_QTST,
    TRUST_PATH_ENV,
    TrustedList,
    TrustListInvalid,
    TrustListOutdated,
    TrustService,
    TrustStoreInvalid,
    is_qualified,
    load_trust_store,
    parse_trusted_list,
    store_trusted_list,
)
from tests.conftest import make_settings

# A copy of ../shared/trust/tsl-be-2023-09-19.xml (Belgium's trusted list, public data), so
# that the suite does not depend on what lies beside the checkout.
BE_LIST = Path(__file__).resolve().parent.parent / "data" / "tsl-be-2023-09-19.xml"
TSL = "http://uri.etsi.org/02231/v2#"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
WITHDRAWN = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn"
# Counted by hand in the snapshot: 69 CA/QC services name 53 distinct certificates (GlobalSign
# lists most CAs twice, once for signatures and once for seals); 28 of those are granted for
# e-signatures.
BE_CA_IDENTITIES, BE_QUALIFIED = 53, 28

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE TrustServiceStatusList [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#">
 <SchemeInformation><SchemeTerritory>&f;</SchemeTerritory></SchemeInformation>
</TrustServiceStatusList>
"""
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'


@pytest.fixture(scope="module")
def be_xml() -> bytes:
    return BE_LIST.read_bytes()


@pytest.fixture(scope="module")
def be_list(be_xml: bytes) -> TrustedList:
    return parse_trusted_list(be_xml, source=BE_LIST.name)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "trust"


@pytest.fixture
def cli(tmp_path: Path, store_dir: Path) -> Iterator[Callable[..., Result]]:
    """`docservice ...` against a throwaway app, with the trust store in `store_dir`."""
    settings = make_settings(tmp_path / "app", f"sqlite:///{tmp_path / 'app.sqlite3'}")
    app = create_app({"TESTING": True}, settings=settings)
    runner = app.test_cli_runner()
    yield lambda *args: runner.invoke(main, list(args), env={TRUST_PATH_ENV: str(store_dir)})
    app.extensions["docservice"].close()


def common_name(certificate: asn1_x509.Certificate) -> str | None:
    return certificate.subject.native.get("common_name")  # type: ignore[no-any-return]


def services_of(trusted_list: TrustedList, cn: str) -> list[TrustService]:
    return [s for s in trusted_list.services
            if any(common_name(c) == cn for c in s.certificates)]


def certificate_named(trusted_list: TrustedList, cn: str) -> asn1_x509.Certificate:
    (service,) = services_of(trusted_list, cn)
    (certificate,) = service.certificates
    return certificate


def edited(xml: bytes, edit: Callable[[Any], None]) -> bytes:
    """The list with `edit` applied to its parsed tree (its XML signature no longer matches)."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def set_text(path: str, value: str) -> Callable[[Any], None]:
    def edit(root: Any) -> None:
        root.find(path, {"t": TSL}).text = value
    return edit


def test_scheme_information(be_list: TrustedList):
    assert be_list.territory == "BE"
    assert be_list.sequence_number == 66
    assert be_list.issued_at == datetime(2023, 9, 19, 0, 0, 24, tzinfo=UTC)
    assert be_list.next_update == datetime(2024, 3, 18, 1, 0, 24, tzinfo=UTC)
    assert be_list.list_type.endswith("/TSLType/EUgeneric")
    assert len(be_list.services) == 99 and len(be_list.ca_services) == 69
    assert be_list.is_stale(datetime(2026, 1, 1, tzinfo=UTC))
    assert not be_list.is_stale(datetime(2023, 10, 1, tzinfo=UTC))


@pytest.mark.parametrize(("cn", "tsp"), [
    ("Belgium Root CA4", "Certipost n.v./s.a."),
    ("Belgium Root CA6", "Kingdom of Belgium - Federal Government"),
])
def test_belgian_eid_roots_are_granted_qualified_cas(be_list: TrustedList, cn: str, tsp: str):
    (service,) = services_of(be_list, cn)
    assert service.tsp_name == tsp
    assert service.service_type == SERVICE_TYPE_CA_QC
    assert service.status == GRANTED
    assert service.service_name.startswith(("CN=Belgium Root CA", "Belgium Root CA"))
    assert service.qualified_for_esignatures


def test_status_history_is_kept(be_list: TrustedList):
    (ca4,) = services_of(be_list, "Belgium Root CA4")
    assert ca4.status_starting_time == datetime(2016, 6, 30, 22, tzinfo=UTC)
    assert [(h.status.rsplit("/", 1)[-1], h.starting_time.year) for h in ca4.history] == [
        ("undersupervision", 2013)]


@pytest.mark.parametrize(("cn", "why"), [
    ("Belgium Root CA", "withdrawn in 2016"),
    ("GlobalSign RSA EV QWAC CA 2019", "withdrawn, and for websites only"),
    ("GlobalSign GCC R3 EV QWAC CA 2020", "granted, but for website authentication only"),
])
def test_other_ca_services_are_not_qualified_for_esignatures(be_list: TrustedList, cn: str,
                                                             why: str):
    services = services_of(be_list, cn)
    assert services and all(s.is_ca_qc for s in services)
    assert not any(s.qualified_for_esignatures for s in services), why


def test_timestamp_authorities_are_not_ca_anchors(be_list: TrustedList, store_dir: Path):
    tsas = [s for s in be_list.services if s.service_type == SERVICE_TYPE_TSA_QTST]
    assert len(tsas) == 15
    assert all(s.status == GRANTED for s in tsas)
    assert not any(s.is_ca_qc or s.qualified_for_esignatures for s in tsas)

    store = load_trust_store(store_trusted_list(be_list, store_dir, source=BE_LIST.name).folder)
    anchors = {c.sha256 for c in store.roots}
    tsa_certificates = {c.sha256 for s in tsas for c in s.certificates}
    assert tsa_certificates and not tsa_certificates & anchors


def test_trust_load_writes_the_store_and_is_idempotent(cli: Callable[..., Result],
                                                       store_dir: Path, be_list: TrustedList,
                                                       pki: Pki):
    result = cli("trust", "load", str(BE_LIST))
    assert result.exit_code == 0, result.output
    assert (f"{BE_CA_IDENTITIES} CA/QC identities, {BE_QUALIFIED} qualified for e-signatures"
            in result.stdout)
    assert "Belgium Root CA4 (qualified)" in result.stdout
    assert "Belgium Root CA6 (qualified)" in result.stdout
    assert "Belgium Root CA (withdrawn)" in result.stdout
    assert "outdated, its next update was due 2024-03-18" in result.stderr

    pems = sorted(store_dir.glob("*.pem"))
    assert len(pems) == BE_CA_IDENTITIES
    for path in pems:
        _, _, der = asn1_pem.unarmor(path.read_bytes())
        assert path.stem == hashlib.sha256(der).hexdigest()
    index = json.loads((store_dir / INDEX).read_text())
    assert index["lists"]["BE"]["sequence_number"] == 66
    ca4 = certificate_named(be_list, "Belgium Root CA4")
    (entry,) = [e for e in index["certificates"] if e["sha256"] == ca4.sha256.hex()]
    assert entry == {
        "sha256": ca4.sha256.hex(), "subject": "CN=Belgium Root CA4,C=BE",
        "not_after": "2032-10-22T12:00:00+00:00", "territory": "BE",
        "tsp": "Certipost n.v./s.a.", "service_name": "CN=Belgium Root CA4, C=BE",
        "service_type": SERVICE_TYPE_CA_QC, "status": GRANTED,
        "status_since": "2016-06-30T22:00:00+00:00", "qualified": True,
        "source": "tsl-be-2023-09-19.xml", "sequence_number": 66,
    }
    files = {p.name: p.read_bytes() for p in store_dir.iterdir()}

    again = cli("trust", "load", str(BE_LIST))
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in store_dir.iterdir()} == files

    store = load_trust_store(store_dir)
    assert len(store.roots) == BE_CA_IDENTITIES and len(store.qualified) == BE_QUALIFIED
    ca6 = certificate_named(be_list, "Belgium Root CA6")
    assert {ca4.sha256, ca6.sha256} <= store.qualified
    assert {ca4.sha256, ca6.sha256} <= {c.sha256 for c in store.roots}
    withdrawn = certificate_named(be_list, "Belgium Root CA")
    assert withdrawn.sha256 in {c.sha256 for c in store.roots}
    assert withdrawn.sha256 not in store.qualified
    # What the verification engine's Trust takes: its own roots plus the store's.
    roots = pki.trust_roots + store.roots
    assert roots[0] is pki.root and len(roots) == BE_CA_IDENTITIES + 1


def test_trust_list_prints_the_entries(cli: Callable[..., Result]):
    empty = cli("trust", "list")
    assert empty.exit_code == 0 and "is empty" in empty.output
    assert cli("trust", "load", str(BE_LIST)).exit_code == 0
    listing = cli("trust", "list")
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.splitlines()
    assert "qualified      2032-10-22  CN=Belgium Root CA4,C=BE" in lines
    assert "not qualified  2014-01-26  CN=Belgium Root CA,C=BE" in lines
    assert lines[-1].startswith(f"{BE_CA_IDENTITIES} certificate(s), {BE_QUALIFIED} qualified")


def test_a_newer_list_replaces_its_territory_only(be_xml: bytes, be_list: TrustedList,
                                                  store_dir: Path):
    def without_federal_government(root: Any) -> None:
        set_text("t:SchemeInformation/t:TSLSequenceNumber", "67")(root)
        for tsp in root.iterfind("t:TrustServiceProviderList/t:TrustServiceProvider",
                                 {"t": TSL}):
            if "Federal Government" in etree.tostring(tsp.find(f"{{{TSL}}}TSPInformation"),
                                                      encoding="unicode"):
                tsp.getparent().remove(tsp)

    newer = parse_trusted_list(edited(be_xml, without_federal_government), source="be-67.xml")
    dutch = parse_trusted_list(edited(be_xml, set_text("t:SchemeInformation/t:SchemeTerritory",
                                                       "NL")), source="nl.xml")
    ca6 = certificate_named(be_list, "Belgium Root CA6").sha256
    store_trusted_list(be_list, store_dir, source="be-66.xml")
    store_trusted_list(dutch, store_dir, source="nl.xml")

    result = store_trusted_list(newer, store_dir, source="be-67.xml")
    assert result.replaced_sequence_number == 66
    store = load_trust_store(store_dir)
    be = [e for e in store.entries if e.territory == "BE"]
    assert len(be) == BE_CA_IDENTITIES - 1
    assert {e.sequence_number for e in be} == {67} and {e.source for e in be} == {"be-67.xml"}
    assert ca6.hex() not in {e.sha256 for e in be}
    # Still listed by the other territory: its certificate stays.
    assert ca6 in store.qualified and (store_dir / f"{ca6.hex()}.pem").is_file()

    index = (store_dir / INDEX).read_bytes()
    with pytest.raises(TrustListOutdated) as refused:
        store_trusted_list(be_list, store_dir, source="be-66.xml")
    assert (refused.value.sequence_number, refused.value.stored_sequence_number) == (66, 67)
    assert (store_dir / INDEX).read_bytes() == index


def _bad_certificate(root: Any) -> None:
    root.find(".//t:TSPService//t:X509Certificate", {"t": TSL}).text = "bm90IGEgY2VydGlmaWNhdGU="


def _list_of_the_lists(root: Any) -> None:
    set_text("t:SchemeInformation/t:TSLType",
             "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists")(root)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda xml: xml[: len(xml) // 2], "not well-formed XML"),
    (lambda xml: b"", "not well-formed XML"),
    (lambda xml: BOMB, "entity"),
    (lambda xml: BOMB.decode().replace("&f;", "&a;").encode("utf-16"), "DTD"),
    (lambda xml: SVG, "not an ETSI TS 119 612 trusted list"),
    (lambda xml: edited(xml, set_text("t:SchemeInformation/t:SchemeTerritory", "../../x")),
     "not a country code"),
    (lambda xml: edited(xml, _bad_certificate), "TSP 'Certipost n.v./s.a.', service 1"),
    (lambda xml: edited(xml, _list_of_the_lists), "EU list of trusted lists"),
], ids=["truncated", "empty", "entity-bomb", "utf16-dtd", "not-a-tsl", "territory",
        "certificate", "lotl"])
def test_garbage_is_refused_and_nothing_is_written(cli: Callable[..., Result], store_dir: Path,
                                                  tmp_path: Path, be_xml: bytes,
                                                  make: Callable[[bytes], bytes], reason: str):
    data = make(be_xml)
    with pytest.raises(TrustListInvalid) as refused:
        parse_trusted_list(data, source="bad.xml")
    assert reason in refused.value.reason

    bad = tmp_path / "bad.xml"
    bad.write_bytes(data)
    result = cli("trust", "load", str(bad))
    assert result.exit_code == 1
    assert f"Error: trusted list {bad}: " in result.output and reason in result.output
    assert "Traceback" not in result.output
    assert not store_dir.exists()


def test_is_qualified_looks_at_every_certificate_of_the_chain(be_list: TrustedList,
                                                              store_dir: Path, pki: Pki):
    store_trusted_list(be_list, store_dir, source=BE_LIST.name)
    store = load_trust_store(store_dir)
    ca4 = certificate_named(be_list, "Belgium Root CA4")
    itsme = certificate_named(be_list, "itsme Sign Issuing CA G2")
    withdrawn = certificate_named(be_list, "Belgium Root CA")
    assert is_qualified([pki.signer_ca, ca4], store)
    assert is_qualified([itsme, pki.root], store)  # an intermediate on the list
    assert not is_qualified([pki.signer_ca, pki.root], store)
    assert not is_qualified([withdrawn], store)
    assert not is_qualified([], store)


def test_the_store_is_empty_until_loaded_and_refuses_altered_files(be_list: TrustedList,
                                                                   store_dir: Path):
    assert load_trust_store(store_dir).roots == ()
    store_trusted_list(be_list, store_dir, source=BE_LIST.name)
    ca4 = certificate_named(be_list, "Belgium Root CA4")
    other = certificate_named(be_list, "Belgium Root CA6")
    (store_dir / f"{ca4.sha256.hex()}.pem").write_bytes(asn1_pem.armor("CERTIFICATE",
                                                                       other.dump()))
    with pytest.raises(TrustStoreInvalid, match="altered"):
        load_trust_store(store_dir)
    (store_dir / INDEX).write_text("{not json")
    with pytest.raises(TrustStoreInvalid, match="unreadable"):
        load_trust_store(store_dir)


def test_a_damaged_index_entry_is_a_clear_error(be_list: TrustedList, store_dir: Path):
    store_trusted_list(be_list, store_dir, source=BE_LIST.name)
    index = json.loads((store_dir / INDEX).read_text())
    del index["certificates"][0]["not_after"]
    (store_dir / INDEX).write_text(json.dumps(index))
    with pytest.raises(TrustStoreInvalid, match="damaged entry"):
        load_trust_store(store_dir)
    with pytest.raises(TrustStoreInvalid, match="damaged entry"):
        store_trusted_list(be_list, store_dir, source=BE_LIST.name)
