"""EU trusted lists through pyhanko: the LOTL of 2019-09-04 and four member states' lists served
over HTTP, every signature verified as of the lists' issue dates; broken ones refused."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from freezegun import freeze_time

from docservice import create_app
from docservice.cli import main
from docservice.signing import trust
from docservice.signing.trust import (
    INDEX,
    TrustListRefused,
    TrustStoreInvalid,
    load_file,
    load_trust_store,
)
from tests.conftest import make_settings

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "trust" / "lotl-2019"
# A copy of the Belgian list of 2023-09-19 (public data), beside the tests.
BE_2023 = Path(__file__).resolve().parent.parent / "data" / "tsl-be-2023-09-19.xml"
ISSUED = "2019-09-05 12:00:00"  # the day after the LOTL's issue: every signer was valid then
MEMBERS = ("BE", "NL", "FR", "LU")

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not there")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """../shared/trust/lotl-2019 on a local HTTP server; its base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SHARED)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "trust"


@pytest.fixture
def cli(tmp_path: Path, store_dir: Path) -> Iterator[Callable[..., Result]]:
    """`docservice ...` against a throwaway app, with the trust store in `store_dir`."""
    settings = make_settings(tmp_path / "app", f"sqlite:///{tmp_path / 'app.sqlite3'}",
                             trust_path=store_dir)
    app = create_app({"TESTING": True}, settings=settings)
    runner = app.test_cli_runner()
    yield lambda *args: runner.invoke(main, list(args))
    app.extensions["docservice"].close()


def mirrors(base: str, **files: str) -> list[str]:
    options = []
    for territory in MEMBERS:
        options += ["--territory", territory, "--tl", f"{territory}={base}{territory}.xml"]
    for territory, name in files.items():
        options += ["--territory", territory, "--tl", f"{territory}={base}{name}"]
    return options


@pytest.fixture(scope="module")
def refreshed(served: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """The store after one `trust refresh` of the four lists and the broken Czech one."""
    folder = tmp_path_factory.mktemp("refreshed") / "trust"
    settings = make_settings(folder.parent / "app",
                             f"sqlite:///{folder.parent / 'app.sqlite3'}", trust_path=folder)
    app = create_app({"TESTING": True}, settings=settings)
    try:
        with freeze_time(ISSUED):
            result = app.test_cli_runner().invoke(
                main, ["trust", "refresh", "--lotl", f"{served}eu-lotl.xml",
                       *mirrors(served, CZ="CZ_broken-sig.xml")])
    finally:
        app.extensions["docservice"].close()
    return folder, result


def test_refresh_verifies_the_lotl_and_every_list_and_refuses_the_broken_one(
        refreshed: tuple[Path, Result]):
    folder, result = refreshed
    assert result.exit_code == 1, result.output  # a list was refused
    out = result.output
    assert "LOTL #248 (issued 2019-09-04) verified" in out
    for territory in MEMBERS:
        assert f"{territory}: list #" in out and "verified and stored" in out
    assert "error: CZ: refused: its signature does not verify" in out
    assert "4 list(s) stored, 1 refused" in out
    index = json.loads((folder / INDEX).read_text())
    assert sorted(index["lists"]) == ["BE", "EU", "FR", "LU", "NL"]
    assert all(v["signature"]["verified"] for v in index["lists"].values())
    assert index["lists"]["BE"]["signature"]["signed_by"]
    assert not (folder / "lists" / "CZ.xml").exists()
    for territory in (*MEMBERS, "EU"):
        stored = (folder / "lists" / f"{territory}.xml").read_bytes()
        assert hashlib.sha256(stored).hexdigest() == index["lists"][territory]["sha256"]
    # A list past its next update on the day is named (one of them was, on 2019-09-05).
    assert "past its next-update date: its next update was due 2019-07-24" in out


def test_the_refreshed_store_holds_the_belgian_eid_roots_and_their_services(
        refreshed: tuple[Path, Result]):
    folder, _ = refreshed
    store = load_trust_store(folder)
    assert not store.notes
    ca4 = [e for e in store.entries if e.common_name == "Belgium Root CA4"]
    assert ca4 and all(e.qualified and e.territory == "BE" and e.verified for e in ca4)
    withdrawn = [e for e in store.entries if e.common_name == "Belgium Root CA"]
    assert withdrawn and not any(e.qualified for e in withdrawn)
    assert {bytes.fromhex(e.sha256) for e in ca4} <= store.qualified
    lists = store.trusted_lists
    assert lists is not None and lists.services
    services = json.loads((folder / trust.SERVICES).read_text())["services"]
    assert sorted(services) == ["BE", "FR", "LU", "NL"]
    assert any(s["service_name"].startswith("CN=Belgium Root CA4") for s in services["BE"])


def test_trust_list_shows_the_lists_and_the_certificates(
        refreshed: tuple[Path, Result], cli: Callable[..., Result], tmp_path: Path):
    folder, _ = refreshed
    settings = make_settings(tmp_path / "app2", f"sqlite:///{tmp_path / 'app2.sqlite3'}",
                             trust_path=folder)
    app = create_app({"TESTING": True}, settings=settings)
    try:
        result = app.test_cli_runner().invoke(main, ["trust", "list"])
    finally:
        app.extensions["docservice"].close()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("list EU  #248") and "signature verified" in line
               for line in lines)
    assert any(line.startswith("list BE ") for line in lines)
    assert any(line.startswith("qualified") and "CN=Belgium Root CA4,C=BE" in line
               for line in lines)
    assert any(line.startswith("not qualified") and "CN=Belgium Root CA,C=BE" in line
               for line in lines)
    assert "from 5 list(s)" in result.output


def test_a_lotl_whose_signature_is_broken_is_refused_and_nothing_stored(
        served: str, cli: Callable[..., Result], store_dir: Path):
    with freeze_time(ISSUED):
        result = cli("trust", "refresh", "--lotl", f"{served}eu-lotl-broken-sig.xml",
                     *mirrors(served))
    assert result.exit_code == 1
    assert "eu-lotl-broken-sig.xml refused: its signature does not verify" in result.output
    assert not (store_dir / INDEX).exists()


def test_lists_are_verified_as_of_now_by_default(served: str, cli: Callable[..., Result],
                                                 store_dir: Path):
    # Today the member states' signing certificates of 2019 have expired: every list refused.
    result = cli("trust", "refresh", "--lotl", f"{served}eu-lotl.xml", *mirrors(served))
    assert result.exit_code == 1
    for territory in MEMBERS:
        assert f"error: {territory}: refused" in result.output
    assert "expired" in result.output
    assert not load_trust_store(store_dir).entries


def test_trust_load_verifies_files_against_the_stored_lotl(cli: Callable[..., Result],
                                                          store_dir: Path):
    with freeze_time(ISSUED):
        alone = cli("trust", "load", str(SHARED / "BE.xml"))
        assert alone.exit_code == 1 and "no verified LOTL" in alone.output
        lotl = cli("trust", "load", str(SHARED / "eu-lotl.xml"))
        assert lotl.exit_code == 0, lotl.output
        assert "Loaded the EU LOTL #248" in lotl.output and "signature verified" in lotl.output
        be = cli("trust", "load", str(SHARED / "BE.xml"))
        assert be.exit_code == 0, be.output
        assert "Loaded the BE trusted list" in be.output
        assert "Belgium Root CA4 (qualified)" in be.output
        broken = cli("trust", "load", str(SHARED / "CZ_broken-sig.xml"))
        assert broken.exit_code == 1
        assert "CZ_broken-sig.xml refused: its signature does not verify" in broken.output
    assert "CZ" not in json.loads((store_dir / INDEX).read_text())["lists"]


def test_unsigned_ok_stores_the_list_and_says_so_everywhere(cli: Callable[..., Result],
                                                          store_dir: Path):
    with freeze_time(ISSUED):
        result = cli("trust", "load", "--unsigned-ok", str(SHARED / "CZ_broken-sig.xml"))
    assert result.exit_code == 0, result.output
    assert "signature NOT verified (--unsigned-ok)" in result.output
    assert "WITHOUT a verified signature" in result.output
    store = load_trust_store(store_dir)
    assert store.notes == ("the CZ trusted list #" + str(store.lists[0].sequence_number)
                           + " was stored WITHOUT a verified signature "
                           "(trust load --unsigned-ok)",)
    assert store.entries and not any(e.verified for e in store.entries)
    assert store.trusted_lists is not None and store.trusted_lists.notes["CZ"]
    listing = cli("trust", "list")
    assert "signature NOT verified" in listing.output


def test_a_later_belgian_list_verifies_with_the_certificates_the_2019_lotl_names(
        cli: Callable[..., Result], store_dir: Path):
    with freeze_time(ISSUED):
        assert cli("trust", "load", str(SHARED / "eu-lotl.xml")).exit_code == 0
    with freeze_time("2023-09-20 12:00:00"):
        result = cli("trust", "load", str(BE_2023))
    assert result.exit_code == 0, result.output
    assert "Loaded the BE trusted list #66" in result.output
    assert "Belgium Root CA6 (qualified)" in result.output


def test_an_older_list_does_not_replace_a_newer_one(store_dir: Path):
    with freeze_time(ISSUED):
        load_file(SHARED / "eu-lotl.xml", store_dir)
    with freeze_time("2023-09-20 12:00:00"):
        load_file(BE_2023, store_dir)
    with freeze_time(ISSUED), pytest.raises(trust.TrustListOutdated):
        load_file(SHARED / "BE.xml", store_dir)


def test_hostile_or_foreign_files_are_refused(tmp_path: Path, store_dir: Path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    with pytest.raises(TrustListRefused, match="DTD"):
        load_file(bomb, store_dir)
    svg = tmp_path / "image.svg"
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>')
    with pytest.raises(TrustListRefused):
        load_file(svg, store_dir)
    assert not (store_dir / INDEX).exists()


def test_a_store_of_the_old_unverified_format_must_be_refreshed(store_dir: Path):
    store_dir.mkdir()
    (store_dir / INDEX).write_text(json.dumps({"format": 1, "lists": {}, "certificates": []}))
    with pytest.raises(TrustStoreInvalid, match="trust refresh"):
        load_trust_store(store_dir)


def test_an_altered_certificate_is_found(refreshed: tuple[Path, Result], tmp_path: Path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(refreshed[0], folder)
    victim = next(folder.glob("*.pem"))
    victim.write_bytes(next(p for p in folder.glob("*.pem") if p != victim).read_bytes())
    with pytest.raises(TrustStoreInvalid, match="altered"):
        load_trust_store(folder)
