"""Benchmark: the archive's search, archiving one agreement, and verifying the audit trail.

Prints:
- search over N indexed archived documents (default 100,000) by each criterion, median of
  30 queries with varied values, on SQLite and (if reachable) PostgreSQL;
- archiving one three-signature agreement (real LibreOffice PDF, real signatures) as the
  archiving job does it: B-LTA completion, the verification engine, the check that the
  validation data is embedded, the write-once store and the trail; median of R runs, with
  each step's share, and (for comparison) pyhanko's deep long-term validation, which
  `docservice archive verify` runs instead;
- `audit verify` over M trail entries (default 1,000,000) on SQLite (and PostgreSQL).

    .venv/bin/python bench/archive.py [--docs 100000] [--trail 1000000] [--runs 7]
                                      [--skip-postgres] [--only search|archive|trail]

Everything lives in temporary folders and temporary databases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from docservice import migrate  # noqa: E402
from docservice.archive import audit  # noqa: E402
from docservice.db import Database, unit_of_work  # noqa: E402
from docservice.domain import sha256_hex  # noqa: E402
from docservice.jobs import archiving  # noqa: E402
from docservice.models import (  # noqa: E402
    ArchiveEntry,
    ArchiveTerm,
    AuditEvent,  # noqa: E402
)
from docservice.services import archive_search  # noqa: E402
from docservice.signing.verify import verdict  # noqa: E402

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime
    from tests.archive.conftest import Completed

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht")
FIRST = ["Zoë", "Jan", "Anaïs", "Lotte", "Mehmet", "Sara", "Pieter", "Noor", "Lucas", "Emma",
         "Yusuf", "Lena", "Bram", "Fien", "Arne", "Ines", "Wout", "Hanne", "Kobe", "Marie"]
LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
        "Wouters", "De Smet", "Dubois", "Lambert", "Vermeulen", "Łukasiewicz", "Van Damme",
        "Hermans", "Aerts", "Smets", "Verstraete", "D'Hondt"]
WORDS = ["Acme", "Brouwerij", "Logistics", "Digital", "Solutions", "Bouw", "Zorg", "Consult",
         "Tech", "Groep", "Antwerpen", "Mechelen", "Gent", "Data", "Security", "Services"]


def median_ms(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and p90 wall-clock milliseconds of `runs` calls (after one warm-up)."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=10)[-1]


def databases(skip_postgres: bool) -> list[tuple[str, str, Callable[[], None]]]:
    """(name, URL, drop) for a fresh SQLite file and, if reachable, a fresh PostgreSQL DB."""
    folder = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    found = [("SQLite", f"sqlite:///{folder / 'bench.sqlite3'}", lambda: None)]
    if skip_postgres:
        return found
    try:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT",
                                 connect_args={"connect_timeout": 3})
        name = f"bench_archive_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001
        print(f"(PostgreSQL not reachable: {type(e).__name__}; SQLite only)")
        return found

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    return [*found, ("PostgreSQL", url, drop)]


# --- search ---------------------------------------------------------------------------------


def fill_archive(db: Database, count: int, rng: random.Random) -> list[dict[str, object]]:
    """`count` archived documents over count/3 placements; returns some of them as probes."""
    placements = count // 3 + 1
    engine = db.engine
    now = datetime.now(UTC)
    years = ["2021-2022", "2022-2023", "2023-2024", "2024-2025"]
    with engine.begin() as c:
        year_ids = []
        for code in years:
            start = int(code[:4])
            year_ids.append(c.execute(sa.text(
                "INSERT INTO academic_years (code, school_name, campus, programme, "
                "coordinator_name, coordinator_email, period_start, period_end, weeks, "
                "thesis_permission_deadline, preference_deadline, contract_deadline, created_at)"
                " VALUES (:code, 'Thomas More', 'Geel', 'IMS', 'Frank', 'f@x.org', :ps, :pe, 12,"
                " :d, :d, :d, :now) RETURNING id"),
                {"code": code, "ps": date(start + 1, 2, 12), "pe": date(start + 1, 5, 17),
                 "d": date(start, 12, 15), "now": now}).scalar_one())
    probes: list[dict[str, object]] = []
    batch = 5000
    document_id = entry_id = 0
    for first in range(0, placements, batch):
        place_rows, doc_rows, entry_rows, term_rows = [], [], [], []
        for p in range(first, min(first + batch, placements)):
            y = p % len(years)
            student_first, student_last = rng.choice(FIRST), rng.choice(LAST)
            company = " ".join(rng.sample(WORDS, 2)) + f" {p % 997} BV"
            digits = f"{rng.randrange(10**9, 2 * 10**9):010d}"
            number = f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"
            place_rows.append({
                "id": p + 1, "academic_year_id": year_ids[y], "student_number": f"r{p:07d}",
                "student_first_name": student_first, "student_last_name": student_last,
                "student_email": f"s{p}@x.org", "programme": "IMS", "company_name": company,
                "company_number": number, "company_address": "Straat 1",
                "company_signatory_name": "A", "company_signatory_title": "B",
                "company_signatory_email": "a@b.org", "mentor_name": "M", "mentor_email": "m@b.org",
                "mentor_phone": "1", "docent_name": "D", "docent_email": "d@x.org",
                "start_date": date(2024, 2, 12), "end_date": date(2024, 5, 17), "assignment": "A",
                "nda": True, "copyright_waiver": True, "thesis_at_company": False,
                "language": "nl", "created_at": now})
            signed = datetime(int(years[y][:4]), 10, 1, tzinfo=UTC) + timedelta(
                minutes=rng.randrange(0, 200 * 24 * 60))
            for kind in KINDS:
                if document_id >= count:
                    break
                document_id += 1
                entry_id += 1
                sha = hashlib.sha256(f"doc{document_id}".encode()).hexdigest()
                reference = f"r{p:07d}-{kind}"
                doc_rows.append({"id": document_id, "placement_id": p + 1, "kind": kind,
                                 "language": "nl", "reference": reference,
                                 "template_sha256": "0" * 64, "docx_sha256": "0" * 64,
                                 "created_at": now})
                entry = ArchiveEntry(
                    id=entry_id, document_id=document_id, placement_id=p + 1, version=1,
                    sha256=sha, size=190000,
                    source_sha256=hashlib.sha256(f"src{document_id}".encode()).hexdigest(),
                    manifest_sha256="1" * 64, report_sha256="2" * 64,
                    academic_year=years[y], document_kind=kind, reference=reference,
                    student_number=f"r{p:07d}", student_name=f"{student_first} {student_last}",
                    company_name=company, company_number=number, signed_first_at=signed,
                    signed_last_at=signed + timedelta(days=3), archived_at=signed,
                    retention_until=date(2034, 5, 17), verdict="passed", long_term_ok=True,
                    last_timestamp_at=signed, last_timestamp_expires_at=signed,
                    retention_locked=True)
                entry_rows.append({c.key: getattr(entry, c.key)
                                   for c in ArchiveEntry.__table__.columns})
                term_rows += [{"entry_id": entry_id, "field": f, "term": t}
                              for f, t in archive_search.entry_terms(entry)]
                if rng.random() < 0.002:
                    probes.append({"student": student_last, "number": f"r{p:07d}",
                                   "company": company.split()[0], "company_number": number,
                                   "year": years[y], "kind": kind, "sha": sha,
                                   "signed": signed.date()})
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO placements (" + ", ".join(place_rows[0]) + ") VALUES ("
                              + ", ".join(f":{k}" for k in place_rows[0]) + ")"), place_rows)
            if doc_rows:
                c.execute(sa.insert(sa.table("documents", *[sa.column(k) for k in doc_rows[0]])),
                          doc_rows)
                c.execute(sa.insert(ArchiveEntry.__table__), entry_rows)
                c.execute(sa.insert(ArchiveTerm.__table__), term_rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(sa.text("ANALYZE"))
            c.execute(sa.text("SELECT setval('archive_entries_id_seq', :n)"), {"n": entry_id})
    return probes


def bench_search(skip_postgres: bool, count: int) -> None:
    print(f"\nSearch over {count:,} archived documents (median / p90 of 30 queries, 50 rows)")
    for name, url, drop in databases(skip_postgres):
        db = Database(url)
        try:
            migrate.upgrade(db)
            rng = random.Random(7)
            start = time.perf_counter()
            probes = fill_archive(db, count, rng)
            print(f"  {name}: indexed in {time.perf_counter() - start:.1f} s")
            if db.engine.dialect.name == "postgresql":
                # As autovacuum leaves an archive filled over the years (PostgreSQL 13 and
                # later vacuum insert-only tables too): statistics, visibility map.
                with db.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            cases: dict[str, Callable[[dict[str, object]], archive_search.SearchCriteria]] = {
                "student last name": lambda p: archive_search.SearchCriteria(student=str(p["student"])),
                "student number": lambda p: archive_search.SearchCriteria(student=str(p["number"])),
                "company name": lambda p: archive_search.SearchCriteria(company=str(p["company"])),
                "enterprise number": lambda p: archive_search.SearchCriteria(
                    company=str(p["company_number"])),
                "academic year": lambda p: archive_search.SearchCriteria(year=str(p["year"])),
                "document kind": lambda p: archive_search.SearchCriteria(kind=str(p["kind"])),
                "signing date range (7 days)": lambda p: archive_search.SearchCriteria(
                    signed_from=p["signed"], signed_to=p["signed"] + timedelta(days=7)),  # type: ignore[operator]
                "SHA-256": lambda p: archive_search.SearchCriteria(sha256=str(p["sha"])),
                "SHA-256 prefix (10)": lambda p: archive_search.SearchCriteria(sha256=str(p["sha"])[:10]),
                "year + kind + name": lambda p: archive_search.SearchCriteria(
                    year=str(p["year"]), kind=str(p["kind"]), student=str(p["student"])),
            }
            for label, make in cases.items():
                queries = iter(probes * 100)

                def run(make: Callable[[dict[str, object]], archive_search.SearchCriteria] = make,
                        queries: object = queries, db: Database = db) -> None:
                    with db.session() as session:
                        result = archive_search.search(session, make(next(queries)))  # type: ignore[call-overload]
                        assert result.entries

                median, p90 = median_ms(run, 30)
                print(f"    {label:<30} median {median:6.1f} ms   p90 {p90:6.1f} ms")
        finally:
            db.dispose()
            drop()


# --- archiving one agreement ----------------------------------------------------------------


def signed_agreements(folder: Path, count: int) -> tuple[Runtime, list[Completed]]:
    """A testing runtime over `folder` (dev PKI in `folder/pki`, SQLite) and `count` envelopes
    signed by all three parties with real LibreOffice PDFs, not archived yet (archive them
    with `archive.archive_document`)."""
    from docservice.config import CHECKOUT, Settings
    from docservice.documents.convert import ConverterPool
    from docservice.jobs import registry
    from docservice.jobs.runtime import Runtime
    from docservice.services.years import load_year_file
    from docservice.signing.pki import init_dev_pki
    from tests.archive.conftest import complete_envelope

    init_dev_pki(folder / "pki")
    settings = Settings(env="testing", secret_key="bench" * 8, instance_path=folder,
                        database_url=f"sqlite:///{folder / 'db.sqlite3'}",
                        blob_path=folder / "blobs", outbox_path=folder / "outbox",
                        archive_path=folder / "archive", pki_path=folder / "pki",
                        templates_path=CHECKOUT / "templates", converters=1,
                        jobs="inline").validated()
    rt = Runtime(settings)
    migrate.upgrade(rt.db)
    with unit_of_work(rt.db) as session:
        load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")
    registry.REGISTRY["archive_envelope"] = lambda rt, envelope_id: None  # the caller archives
    with ConverterPool(size=1) as pool:
        rt.use_converter(pool)
        done = [complete_envelope(rt, n, nda="nee", copyright_waiver="nee")
                for n in range(count)]
        rt.use_converter(None)
    return rt, done


def bench_archiving(runs: int) -> None:
    from docservice.archive import records
    from docservice.archive.store import FilesystemArchiveStore
    from docservice.signing import ltv

    folder = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    rt, done = signed_agreements(folder, runs + 1)
    with unit_of_work(rt.db) as session:
        from docservice.models import Document

        source = rt.blobs.get(session.get(Document, done[0].document_ids[0])
                              .current_revision.sha256)
    sources = rt.ltv_sources()
    print(f"\nArchiving one three-signature agreement ({len(source):,} bytes, "
          f"{runs} runs after a warm-up; target <= 250 ms)")
    # The real thing: archive.archive_document, as the job runs it (database, store, trail).
    totals = []
    for run, envelope in enumerate(done):
        start = time.perf_counter()
        outcome = archiving.archive_document(rt, envelope.document_ids[0])
        elapsed = (time.perf_counter() - start) * 1000
        assert outcome.state == "archived", outcome
        if run:
            totals.append(elapsed)
    # Its steps, one by one, on the first agreement.
    steps: dict[str, list[float]] = {k: [] for k in (
        "complete (DSS + document timestamp)", "verification engine",
        "validation data embedded (dss_coverage)", "ETSI XML + PDF reports",
        "store (6 objects, fsync) + read back")}
    deep: dict[str, list[float]] = {k: [] for k in (
        "pyhanko LTA validation (now)", "LTA simulated at retention end")}
    store = FilesystemArchiveStore(folder / "bench-store")
    for run in range(runs + 1):
        t0 = time.perf_counter()
        pdf = ltv.complete_to_lta(source, sources)
        t1 = time.perf_counter()
        engine = verdict.engine_verdict(pdf, sources)
        t2 = time.perf_counter()
        missing = ltv.dss_coverage(pdf, sources.trust_roots)
        t3 = time.perf_counter()
        sha = sha256_hex(pdf)
        etsi, report_pdf = archiving.readable_reports(
            pdf, {"pdf_sha256": sha, "engine": engine.to_json(),
                  "signatures": list(engine.signatures)},
            now=datetime.now(UTC))
        t3r = time.perf_counter()
        store.put(records.report_etsi_key(sha), etsi)
        store.put(records.report_pdf_key(sha), report_pdf)
        store.put(records.report_key(sha), json.dumps(engine.report).encode())
        store.put(records.report_html_key(sha), b"<html></html>")
        store.put(records.manifest_key(sha), b"{}")
        store.put(records.pdf_key(sha), pdf)
        assert sha256_hex(store.get(records.pdf_key(sha))) == sha
        t4 = time.perf_counter()
        lta = ltv.lta_validation(pdf, sources.trust_roots, current_crls=sources.crls)
        t5 = time.perf_counter()
        ltv.simulate_future(pdf, sources.trust_roots, at=datetime(2034, 5, 17, 23, tzinfo=UTC))
        t6 = time.perf_counter()
        assert engine.passed and not missing and all(r.passed for r in lta)
        if run == 0:
            continue
        for key, value in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t3r - t3, t4 - t3r),
                              strict=True):
            steps[key].append(value * 1000)
        for key, value in zip(deep, (t5 - t4, t6 - t5), strict=True):
            deep[key].append(value * 1000)
    print(f"  {'archive_document (the job, end to end)':<44} median "
          f"{statistics.median(totals):7.1f} ms")
    for key, times in steps.items():
        print(f"    {key:<42} median {statistics.median(times):7.1f} ms")
    print("  not at archive time (docservice archive verify runs them):")
    for key, times in deep.items():
        print(f"    {key:<42} median {statistics.median(times):7.1f} ms")
    rt.close()


# --- audit trail ----------------------------------------------------------------------------


def bench_trail(skip_postgres: bool, count: int) -> None:
    print(f"\n`audit verify` over {count:,} trail entries")
    for name, url, drop in databases(skip_postgres):
        db = Database(url)
        try:
            migrate.upgrade(db)
            start = time.perf_counter()
            prev = audit.GENESIS
            at = datetime(2024, 1, 1, tzinfo=UTC)
            rows = []
            for i in range(1, count + 1):
                detail = {"envelope_id": i // 7, "role": "student", "sha256": f"{i:064x}"}
                when = at + timedelta(seconds=i)
                digest = audit._digest(prev, when, "signer.signed", "system", None, detail,
                                       "192.0.2.1", "bench")
                rows.append({"id": i, "at": when, "action": "signer.signed", "actor": "system",
                             "placement_id": None, "detail": detail, "ip": "192.0.2.1",
                             "user_agent": "bench", "prev_hash": prev, "hash": digest})
                prev = digest
                if len(rows) == 20000:
                    with db.engine.begin() as c:
                        c.execute(sa.insert(AuditEvent.__table__), rows)
                    rows = []
            if rows:
                with db.engine.begin() as c:
                    c.execute(sa.insert(AuditEvent.__table__), rows)
            print(f"  {name}: written in {time.perf_counter() - start:.1f} s")
            start = time.perf_counter()
            with db.session() as session:
                checked, broken = audit.verify_chain(session)
            assert broken is None and checked == count
            print(f"    verify_chain: {time.perf_counter() - start:.1f} s "
                  f"({checked:,} entries intact)")
        finally:
            db.dispose()
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--trail", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only", choices=("search", "archive", "trail"))
    args = parser.parse_args()
    if args.only in (None, "search"):
        bench_search(args.skip_postgres, args.docs)
    if args.only in (None, "archive"):
        bench_archiving(args.runs)
    if args.only in (None, "trail"):
        bench_trail(args.skip_postgres, args.trail)


if __name__ == "__main__":
    main()
