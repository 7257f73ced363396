"""Benchmark: the coordinator's desk with a whole cohort, over HTTP, on SQLite and PostgreSQL.

Builds 5,000 placements with 15,000 documents (agreement, NDA and waiver each) in every state:
draft, waiting for student / company / school, complete, declined. One placement goes through
the real flow (LibreOffice, PAdES signatures, the seal); the others point at the same
content-addressed PDFs, revision for revision, as a cohort whose documents are verified once.

Prints, per database, the median / p90 wall-clock time over HTTP (werkzeug, one thread, a
logged-in coordinator) of:
- the dashboard's first page (default sort: days left),
- a filtered search (student number prefix + a state),
- a state filter over the whole year,
- the CSV export of the whole year,
and the time of `docservice deadlines check` (a subprocess, as cron runs it) on a day when
every open envelope is due a reminder, then again the same day (nothing left to send).

    .venv/bin/python bench/dashboard.py [--placements 5000] [--repeat 30] [--db sqlite,postgresql]

Targets (issue 5): pages and searches <= 150 ms median; deadlines check <= 30 s without
re-verifying unchanged PDFs.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from docservice import create_app, migrate  # noqa: E402
from docservice.archive import audit  # noqa: E402
from docservice.archive.audit import Actor  # noqa: E402
from docservice.config import CHECKOUT, Settings  # noqa: E402
from docservice.db import unit_of_work  # noqa: E402
from docservice.mail.devserver import free_port  # noqa: E402
from docservice.models import (  # noqa: E402
    AcademicYear,
    Document,
    Envelope,
    Placement,
    Revision,
    SignatureRequest,
)
from docservice.services import desk_verification, envelopes  # noqa: E402
from docservice.services.documents import generate_missing  # noqa: E402
from docservice.services.placements import import_placements  # noqa: E402
from docservice.services.users import add_user  # noqa: E402
from docservice.services.years import load_year_file  # noqa: E402
from docservice.signing.pki import init_dev_pki  # noqa: E402

ACTOR = Actor("bench")
PASSWORD = "bench password 1234"
ROLES = ("student", "company", "school")
KINDS = ("stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht")
# Share of the cohort in each stage (the rest: waiting for the student).
MIX = (("draft", 0.15), ("waiting_company", 0.20), ("waiting_school", 0.15),
       ("complete", 0.20), ("declined", 0.05))
PG_ADMIN = os.environ.get("DOCSERVICE_TEST_DATABASE_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _year_file(folder: Path, today: date) -> Path:
    """An academic year whose contract deadline is a week away: reminders are due today."""
    start = today + timedelta(days=40)
    path = folder / "year.toml"
    path.write_text(f'''code = "{today.year}-{today.year + 1}"
school_name = "Thomas More"
campus = "Mechelen"
programme = "Information Management & Security"
coordinator_name = "Frank Vandromme"
coordinator_email = "frank.vandromme@thomasmore.be"
period_start = {start.isoformat()}
period_end = {(start + timedelta(days=120)).isoformat()}
weeks = 12
thesis_permission_deadline = {(today - timedelta(days=60)).isoformat()}
preference_deadline = {(today - timedelta(days=30)).isoformat()}
contract_deadline = {(today + timedelta(days=7)).isoformat()}
''', encoding="utf-8")
    return path


def _csv_row(n: int, year: str, start: date) -> dict[str, str]:
    return {
        "academic_year": year, "student_number": f"r{1000000 + n:07d}",
        "student_first_name": f"Student{n}", "student_last_name": f"Achternaam{n % 997}",
        "student_email": f"s{n}@student.example.org", "programme": "IMS",
        "company_name": f"Bedrijf {n % 1300} BV", "company_number": "0403.512.377",
        "company_address": "Grote Markt 1, 2800 Mechelen",
        "company_signatory_name": f"Signatory {n}", "company_signatory_title": "zaakvoerder",
        "company_signatory_email": f"sign{n}@company.example.com",
        "mentor_name": "Mentor", "mentor_email": "mentor@company.example.com",
        "mentor_phone": "+32 15 12 34 56", "docent_name": f"Docent {n % 40}",
        "docent_email": f"docent{n % 40}@school.example.org",
        "start_date": (start + timedelta(days=n % 30)).isoformat(),
        "end_date": (start + timedelta(days=100)).isoformat(),
        "assignment": "Een SIEM opzetten.", "nda": "ja", "copyright_waiver": "ja",
        "expense_allowance": "", "thesis_at_company": "nee", "thesis_permission_date": "",
        "language": "nl",
    }


def _real_flow(rt: Any, year_code: str, start: date) -> dict[str, list[str]]:
    """One placement through the real flow; returns each kind's revision SHA-256s in order."""
    import csv
    import io

    from docservice.services.placements import COLUMNS

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerow(_csv_row(0, year_code, start))
    now = datetime.now(UTC)
    with unit_of_work(rt.db) as session:
        [placement] = import_placements(session, out.getvalue().encode(), actor=ACTOR).placements
        generate_missing(session, converter=rt.converter, blobs=rt.blobs,
                         templates_root=rt.settings.templates_path, pdfa=True, converters=2,
                         actor=ACTOR)
        session.expire(placement)
        envelope = envelopes.open_envelope(session, placement, now=now, actor=ACTOR,
                                           mailer=rt.mail, settings=rt.settings)
        for role in ROLES:
            request = envelope.request_for(role)
            envelopes.sign(session, request, typed_name=request.signer_name, consent=True,
                           now=now, actor=ACTOR, approved_by="Frank Vandromme",
                           signer=rt.signer, blobs=rt.blobs, mailer=rt.mail,
                           settings=rt.settings, enqueue=rt.enqueue)
        return {d.kind: [r.sha256 for r in d.revisions] for d in placement.current_documents()}


def _stage_of(n: int, total: int) -> str:
    position = n / total
    for stage, share in MIX:
        if position < share:
            return stage
        position -= share
    return "waiting_student"


def _seed(rt: Any, year: AcademicYear, start: date, shas: dict[str, list[str]], count: int
          ) -> None:
    """Placements 1..count-1 with documents, revisions, envelopes and requests, in bulk."""
    now = datetime.now(UTC)
    engine = rt.db.engine
    with engine.begin() as c:
        ids = list(range(2, count + 1))
        placements = []
        for n in ids:
            row = _csv_row(n, year.code, start)
            placements.append({
                "id": n, "academic_year_id": year.id,
                **{k: v for k, v in row.items() if k not in (
                    "academic_year", "start_date", "end_date", "nda", "copyright_waiver",
                    "thesis_at_company", "thesis_permission_date", "expense_allowance")},
                "start_date": date.fromisoformat(row["start_date"]),
                "end_date": date.fromisoformat(row["end_date"]), "nda": True,
                "copyright_waiver": True, "thesis_at_company": False,
                "thesis_permission_date": None, "expense_allowance": None, "created_at": now})
        c.execute(sa.insert(Placement.__table__), placements)
        envelopes_rows, requests, documents, revisions = [], [], [], []
        doc_id = 10
        for n in ids:
            stage = _stage_of(n, count)
            signed = {"draft": 0, "waiting_student": 0, "waiting_company": 1,
                      "waiting_school": 2, "complete": 3, "declined": 0}[stage]
            envelope_id = n if stage != "draft" else None
            if envelope_id is not None:
                status = {"complete": "completed", "declined": "declined"}.get(stage, "open")
                envelopes_rows.append({
                    "id": envelope_id, "placement_id": n, "status": status, "opened_by": "bench",
                    "created_at": now, "completed_at": now if status == "completed" else None,
                    "declined_at": now if status == "declined" else None,
                    "decline_reason": "student: niet akkoord" if status == "declined" else None,
                    "cancelled_at": None})
                for position, role in enumerate(ROLES, start=1):
                    if position <= signed:
                        state = "signed"
                    elif stage == "declined":
                        state = "declined" if position == 1 else "cancelled"
                    else:
                        state = "pending" if position == signed + 1 else "waiting"
                    requests.append({
                        "envelope_id": envelope_id, "role": role, "position": position,
                        "signer_name": f"Signer {n} {role}",
                        # The school's turn goes to the year's coordinator, as in the real flow.
                        "signer_email": year.coordinator_email if role == "school"
                        else f"{role}{n}@x.example",
                        "organisation": "X", "language": "nl", "status": state,
                        "invited_at": now if state in ("pending", "signed", "declined") else None,
                        "signed_at": now if state == "signed" else None,
                        "signed_name": None, "signed_ip": None, "signed_user_agent": None,
                        "certificate_subject": None, "certificate_serial": None,
                        "declined_at": now if state == "declined" else None,
                        "decline_reason": "niet akkoord" if state == "declined" else None})
            for kind in KINDS:
                doc_id += 1
                documents.append({
                    "id": doc_id, "placement_id": n, "envelope_id": envelope_id, "kind": kind,
                    "language": "nl", "reference": f"DS-{year.code}-r{1000000 + n:07d}-{kind}-1",
                    "template_sha256": "0" * 64, "docx_sha256": "0" * 64, "created_at": now,
                    "superseded_at": None})
                for number in range(signed + 1):
                    revisions.append({
                        "document_id": doc_id, "number": number, "sha256": shas[kind][number],
                        "size": 1, "reason": "generated" if number == 0 else
                        f"signed:{ROLES[number - 1]}", "signature_request_id": None,
                        "created_at": now})
        c.execute(sa.insert(Envelope.__table__), envelopes_rows)
        c.execute(sa.insert(SignatureRequest.__table__), requests)
        c.execute(sa.insert(Document.__table__), documents)
        c.execute(sa.insert(Revision.__table__), revisions)
        if engine.dialect.name == "postgresql":
            for table in ("placements", "envelopes", "documents", "revisions",
                          "signature_requests"):
                c.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            c.execute(sa.text("ANALYZE"))


class Client:
    """A browser's worth of HTTP: cookies, and the CSRF token of the login form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, bytes]:
        with self.opener.open(self.base + path) as response:
            return response.status, response.read()

    def login(self, email: str) -> None:
        _, page = self.get("/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        data = urllib.parse.urlencode({"email": email, "password": PASSWORD,
                                       "csrf_token": token}).encode()
        with self.opener.open(self.base + "/login", data=data) as response:
            assert response.status == 200, response.status


def timed(client: Client, path: str, repeat: int, before: Any = None) -> list[float]:
    status, body = client.get(path)  # warm-up (and the first verification of a page)
    assert status == 200, (status, body[:300])
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        status, _ = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200
    return times


def report(name: str, times: list[float], target: float | None = None) -> None:
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else median
    verdict = "" if target is None else ("  ok" if median <= target else f"  OVER {target:g}")
    print(f"  {name:<46} median {median:7.1f} ms   p90 {p90:7.1f} ms{verdict}")


def run(db_name: str, url: str, root: Path, count: int, repeat: int, converter: Any) -> None:
    pki = root / "pki"
    if not pki.exists():
        init_dev_pki(pki, organisation="Thomas More")
    settings = Settings(env="testing", secret_key="bench-" + uuid.uuid4().hex,
                        base_url="http://127.0.0.1", instance_path=root / db_name,
                        database_url=url, blob_path=root / "blobs",
                        outbox_path=root / db_name / "outbox", archive_path=root / "archive",
                        pki_path=pki, templates_path=CHECKOUT / "templates", converters=2,
                        jobs="inline").validated()
    app = create_app(settings=settings)
    rt = app.extensions["docservice"]
    rt.use_converter(converter)
    migrate.upgrade(rt.db)
    today = datetime.now(UTC).date()
    with unit_of_work(rt.db) as session:
        year = load_year_file(session, _year_file(root, today))
        add_user(session, email="coordinator@school.example.org", name="Bench",
                 role="coordinator", password=PASSWORD)
        year_code, start = year.code, year.period_start
    t0 = time.perf_counter()
    shas = _real_flow(rt, year_code, start)
    real = time.perf_counter() - t0
    with unit_of_work(rt.db) as session:
        year = session.scalars(sa.select(AcademicYear)).one()
        t0 = time.perf_counter()
        _seed(rt, year, start, shas, count)
        seeded = time.perf_counter() - t0
    with unit_of_work(rt.db) as session:
        t0 = time.perf_counter()
        stats = desk_verification.refresh(session, [s for v in shas.values() for s in v],
                                          verifier=rt.verifier, blobs=rt.blobs,
                                          now=datetime.now(UTC))
        verified = time.perf_counter() - t0
    print(f"{db_name}: {count} placements, {count * 3} documents "
          f"(real flow {real:.1f} s, bulk seed {seeded:.1f} s, {stats.verified} distinct PDFs "
          f"verified in {verified:.1f} s with {stats.engine})")

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(f"http://127.0.0.1:{port}")
        client.login("coordinator@school.example.org")
        report("dashboard, first page", timed(client, "/coordinator/", repeat), 150)
        report("search: number prefix + state", timed(
            client, "/coordinator/?q=r100012&state=waiting_company", repeat), 150)
        report("search: name", timed(client, "/coordinator/?q=achternaam12", repeat), 150)
        report("filter: state over the whole year", timed(
            client, "/coordinator/?state=overdue&sort=name", repeat), 150)
        report("filter: company + docent", timed(
            client, "/coordinator/?company=bedrijf%2012&docent=docent7%40school.example.org",
            repeat), 150)
        report("CSV export of the whole year", timed(client, "/coordinator/desk/export.csv",
                                                     max(3, repeat // 5)))

        def change() -> None:  # what every signature does: one more event in the trail
            with unit_of_work(rt.db) as session:
                audit.record(session, "bench.change", ACTOR)

        report("first page right after a change (recomputed)",
               timed(client, "/coordinator/", max(5, repeat // 3), before=change))
    finally:
        server.shutdown()

    env = dict(os.environ, DOCSERVICE_ENV="testing", DOCSERVICE_DATABASE_URL=url,
               DOCSERVICE_INSTANCE_PATH=str(settings.instance_path),
               DOCSERVICE_BLOB_PATH=str(settings.blob_path),
               DOCSERVICE_OUTBOX_PATH=str(settings.outbox_path), DOCSERVICE_PKI_PATH=str(pki),
               DOCSERVICE_SECRET_KEY=settings.secret_key, DOCSERVICE_JOBS="inline")
    env.pop("DOCSERVICE_SMTP_HOST", None)
    command = [sys.executable, "-m", "docservice.cli", "deadlines", "check"]
    if os.environ.get("BENCH_PROFILE"):  # a cProfile dump of each run, for hunting
        command[1:1] = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"] + f".{db_name}"]
    for label in ("deadlines check (reminders due today)", "deadlines check again, same day"):
        if os.environ.get("BENCH_PROFILE"):
            command[4] += "-again" if "again" in label else ""
        t0 = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                              cwd=CHECKOUT)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            print(done.stdout, done.stderr)
            raise SystemExit(f"deadlines check failed ({done.returncode})")
        summary = [line for line in done.stdout.splitlines()
                   if "reminders sent" in line or "PDFs:" in line or "e-mails" in line]
        verdict = "  ok" if elapsed <= 30 else "  OVER 30"
        print(f"  {label:<46} {elapsed:7.1f} s{verdict}")
        for line in summary:
            print(f"      {line.strip()}")
    rt.use_converter(None)
    rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--placements", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)  # pyhanko logs every expired path it tries
    from docservice.documents.convert import ConverterPool

    with tempfile.TemporaryDirectory(prefix="bench-desk-") as tmp, \
            ConverterPool(size=2) as converter:
        root = Path(tmp)
        for db_name in args.db.split(","):
            if db_name == "sqlite":
                run("sqlite", f"sqlite:///{root / 'bench.sqlite3'}", root, args.placements,
                    args.repeat, converter)
            elif db_name == "postgresql":
                name = f"docservice_bench_{uuid.uuid4().hex[:8]}"
                try:
                    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT",
                                             connect_args={"connect_timeout": 3})
                    with admin.connect() as c:
                        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
                except Exception as e:  # noqa: BLE001 - no server: say so and go on
                    print(f"postgresql: skipped ({type(e).__name__}: {e})")
                    continue
                url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(
                    hide_password=False)
                try:
                    run("postgresql", url, root, args.placements, args.repeat, converter)
                finally:
                    with admin.connect() as c:
                        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    admin.dispose()


if __name__ == "__main__":
    main()
