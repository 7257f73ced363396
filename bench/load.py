"""Load benchmark: N placements through the whole HTTP flow under gunicorn, with the job queue.

Starts the service the way production runs it, on loopback: gunicorn with 2 workers, the
queue worker (`docservice worker`, DOCSERVICE_JOBS=redis; `--jobs thread` runs the jobs in
the web workers instead), PostgreSQL (a fresh database; `--sqlite` for the embedded one), a
real SMTP server in this process that receives every invitation. Then it imports N
placements, generates their documents (`docservice documents generate`, LibreOffice), opens
the envelopes (`docservice envelopes open`) and lets `--concurrency` simulated signers each
take an envelope through the flow: the student opens the e-mailed link and signs, the
company opens theirs and signs, a coordinator approves. Each person reads the page before
acting on it, `--think` seconds on average (uniform between 0 and twice it; default 5 s,
quick for a contract); `--think 0` fires the requests back to back, a stress test in which
every latency is the time spent queueing for the two cores. Finally it waits until every
document is archived and runs `docservice archive verify --all`.

Prints throughput, p50/p95/p99 latency per endpoint, errors, peak RSS of every process
(gunicorn master and workers, queue worker, generation CLI, LibreOffice converters), the time
until everything is archived, and the targets of issue 7 beside the figures.

    .venv/bin/python bench/load.py [--placements 300] [--concurrency 20] [--jobs redis|thread]
                                   [--sqlite] [--previews] [--think 5] [--timeout 1200]
                                   [--keep]

Bounded: at most --placements envelopes and --timeout seconds; everything lives in a
temporary folder, a temporary database and a private Redis namespace, removed afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from docservice.config import CHECKOUT  # noqa: E402
from docservice.mail.devserver import Inbox, free_port, smtp_server  # noqa: E402
from docservice.services.placements import COLUMNS  # noqa: E402

PG_ADMIN = os.environ.get("DOCSERVICE_TEST_DATABASE_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DOCSERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BIN = Path(sys.executable).parent
YEAR = "2023-2024"
COORDINATOR = ("bench.coordinator@school.example.org", "Bench Coordinator")
PASSWORD = "bench-password-" + uuid.uuid4().hex[:8]
TARGET_P95_SIGN = 1.0  # seconds, signing POST
TARGET_TOTAL = 600.0  # seconds, 300 envelopes signed and archived
FIRST = ["Zoë", "Jan", "Anaïs", "Lotte", "Mehmet", "Sara", "Pieter", "Noor", "Lucas", "Emma"]
LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
        "Vermeulen", "D'Hondt"]


def placements_csv(n: int) -> bytes:
    """N valid placements of 2023-2024; a third need an NDA, a fifth a copyright waiver."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for i in range(n):
        writer.writerow({
            "academic_year": YEAR, "student_number": f"r{900000 + i:07d}",
            "student_first_name": FIRST[i % 10], "student_last_name": LAST[(i // 10) % 10],
            "student_email": f"student{i}@student.example.org",
            "programme": "Information Management & Security",
            "company_name": f"Bedrijf {i} BV", "company_number": "0403.512.377",
            "company_address": "Grote Markt 1, 2800 Mechelen",
            "company_signatory_name": f"Signatory {i}", "company_signatory_title": "zaakvoerder",
            "company_signatory_email": f"signatory{i}@company.example.com",
            "mentor_name": "Seán O'Neill", "mentor_email": f"mentor{i}@company.example.com",
            "mentor_phone": "+32 15 12 34 56", "docent_name": "Joëlle Peeters",
            "docent_email": "joelle.peeters@school.example.org",
            "start_date": "2024-02-12", "end_date": "2024-05-17",
            "assignment": "Een SIEM opzetten voor kmo-klanten en de detectieregels documenteren.",
            "nda": "ja" if i % 3 == 0 else "nee", "copyright_waiver": "ja" if i % 5 == 0 else "nee",
            "expense_allowance": "", "thesis_at_company": "nee", "thesis_permission_date": "",
            "language": "nl" if i % 4 else "en",
        })
    return out.getvalue().encode()


# --- processes and their memory -------------------------------------------------------------

def _proc(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text(errors="replace")
    except OSError:
        return ""


def _children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc(int(entry), "stat")
            if stat:
                tree[int(stat[stat.rindex(")") + 2:].split()[1])].append(int(entry))
    return tree


class MemoryWatch:
    """Samples VmHWM (peak resident set) of every process below the roots, by role."""

    def __init__(self) -> None:
        self.roots: dict[int, str] = {}
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (role, peak kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def watch(self, pid: int, role: str) -> None:
        self.roots[pid] = role

    def _role(self, pid: int, root_role: str, is_root: bool) -> str:
        cmdline = _proc(pid, "cmdline").replace("\0", " ")
        if "uno_worker" in cmdline:
            return "LibreOffice driver (uno_worker.py)"
        if "soffice" in cmdline:
            return "LibreOffice converter (soffice.bin)"
        if root_role == "gunicorn":
            return "gunicorn master" if is_root else "gunicorn worker"
        if root_role == "queue worker" and not is_root:
            return "queue worker (process)"
        return root_role

    def sample(self) -> None:
        tree = _children_map()
        for root, role in list(self.roots.items()):
            stack = [(root, True)]
            while stack:
                pid, is_root = stack.pop()
                match = re.search(r"VmHWM:\s+(\d+) kB", _proc(pid, "status"))
                if match:
                    kb = int(match.group(1))
                    known = self.peaks.get(pid)
                    if known is None or kb > known[1]:
                        self.peaks[pid] = (self._role(pid, role, is_root), kb)
                stack.extend((child, False) for child in tree.get(pid, []))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def report(self) -> list[str]:
        by_role: dict[str, list[int]] = defaultdict(list)
        for role, kb in self.peaks.values():
            by_role[role].append(kb)
        return [f"  {role:<38} {len(kbs):>3} process(es), peak RSS max {max(kbs) / 1024:7.1f} MB,"
                f" sum {sum(kbs) / 1024:7.1f} MB" for role, kbs in sorted(by_role.items())]


# --- the flow over HTTP ---------------------------------------------------------------------

@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, endpoint: str, call: Callable[[], requests.Response],
              expect: tuple[int, ...] = (200,)) -> requests.Response:
        started = time.perf_counter()
        try:
            response = call()
        except requests.RequestException as e:
            with self.lock:
                self.errors.append(f"{endpoint}: {type(e).__name__}: {e}")
            raise
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[endpoint].append(elapsed)
            if response.status_code not in expect:
                self.errors.append(f"{endpoint}: HTTP {response.status_code}")
        if response.status_code not in expect:
            raise FlowError(f"{endpoint}: HTTP {response.status_code}: {response.text[:300]}")
        return response


class FlowError(Exception):
    pass


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise FlowError("no form with a CSRF token")
    return match.group(1)


#: Set to make every simulated signer give up (Ctrl-C, or the run's deadline).
STOP = threading.Event()
#: A link that takes longer than this to arrive is an error (the mail queue is stuck).
MAIL_TIMEOUT = 120.0


class Links:
    """The signing links that reached each address, indexed once per message as mail arrives.

    Twenty signers scanning every message's headers twenty times a second held the GIL so
    long that the SMTP server in this process received fewer than one mail a second.
    """

    def __init__(self, inbox: Inbox, base: str) -> None:
        self.inbox, self.base = inbox, base
        self.seen = 0
        self.by_address: dict[str, list[str]] = defaultdict(list)
        self.lock = threading.Lock()
        self.pattern = re.compile(re.escape(base) + r"(/sign/[A-Za-z0-9_-]+)")

    def _index(self) -> None:
        with self.lock:
            messages = self.inbox.messages[self.seen:]
            self.seen += len(messages)
            for message in messages:
                match = self.pattern.search(message.get_content())
                if match:
                    self.by_address[str(message["To"])].append(match.group(1))

    def wait(self, address: str, deadline: float) -> str:
        deadline = min(deadline, time.monotonic() + MAIL_TIMEOUT)
        while time.monotonic() < deadline and not STOP.is_set():
            self._index()
            found = self.by_address.get(address)
            if found:
                return found[0]
            time.sleep(0.2)
        raise FlowError(f"no signing link reached {address}")


class Flow:
    """One simulated signer after the other on one envelope: student, company, coordinator."""

    def __init__(self, base: str, inbox: Inbox, stats: Stats, deadline: float,
                 previews: bool, think: float = 0.0) -> None:
        self.base, self.stats = base, stats
        self.links = Links(inbox, base)
        self.deadline, self.previews, self.think = deadline, previews, think
        self.local = threading.local()

    def coordinator(self) -> requests.Session:
        """A logged-in coordinator per thread (like 20 colleagues at their desks)."""
        session = getattr(self.local, "coordinator", None)
        if session is None:
            session = requests.Session()
            page = self.stats.timed("GET /login", lambda: session.get(self.base + "/login"))
            self.stats.timed("POST /login", lambda: session.post(
                self.base + "/login", allow_redirects=False,
                data={"email": COORDINATOR[0], "password": PASSWORD,
                      "csrf_token": _csrf(page.text)}), expect=(302,))
            self.local.coordinator = session
        return session

    def sign(self, role: str, address: str, name: str) -> None:
        path = self.links.wait(address, self.deadline)
        browser = requests.Session()
        page = self.stats.timed("GET /sign/<token>", lambda: browser.get(self.base + path))
        if self.previews:
            for image in sorted(set(re.findall(r'src="(/sign/[^"]+\.png)"', page.text))):
                self.stats.timed("GET /sign/<token>/documents/<id>/pages/<n>.png",
                                 lambda image=image: browser.get(self.base + image))
        self.reading()  # the documents, before signing
        done = self.stats.timed(f"POST /sign/<token> ({role})", lambda: browser.post(
            self.base + path, data={"csrf_token": _csrf(page.text), "full_name": name,
                                    "consent": "yes"}))
        if 'id="signed"' not in done.text:
            raise FlowError(f"{role} {address}: the page does not confirm the signature")

    def reading(self) -> None:
        """A person reads a page before acting on it: `--think` seconds on average."""
        if self.think:
            time.sleep(random.uniform(0, 2 * self.think))

    def run(self, i: int, placement_id: int) -> None:
        self.sign("student", f"student{i}@student.example.org",
                  f"{FIRST[i % 10]} {LAST[(i // 10) % 10]}")
        self.sign("company", f"signatory{i}@company.example.com", f"Signatory {i}")
        coordinator = self.coordinator()
        page_path = f"{self.base}/coordinator/placements/{placement_id}"
        page = self.stats.timed("GET /coordinator/placements/<id>",
                                lambda: coordinator.get(page_path))
        self.reading()  # the coordinator checks the placement before approving
        self.stats.timed("POST /coordinator/placements/<id>/envelope/approve",
                         lambda: coordinator.post(page_path + "/envelope/approve",
                                                  data={"csrf_token": _csrf(page.text),
                                                        "confirm": "1"},
                                                  allow_redirects=False), expect=(302,))


# --- running it -----------------------------------------------------------------------------

def _run(env: dict[str, str], *args: str, stdin: str | None = None,
         watch: MemoryWatch | None = None, role: str = "", check: bool = True
         ) -> tuple[float, str]:
    started = time.monotonic()
    process = subprocess.Popen([str(BIN / "docservice"), *args], env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    if watch is not None:
        watch.watch(process.pid, role)
    out, err = process.communicate(stdin)
    if process.returncode != 0 and check:
        raise SystemExit(f"docservice {' '.join(args)} failed:\n{err[-3000:]}")
    return time.monotonic() - started, out


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def _wait_http(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer")


def _database(args: argparse.Namespace, root: Path) -> tuple[str, Callable[[], None]]:
    if args.sqlite:
        return f"sqlite:///{root / 'bench.sqlite3'}", lambda: None
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 3})
    name = f"bench_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def _archived(url: str) -> tuple[int, int]:
    """(documents archived, documents of completed envelopes)."""
    from docservice.models import ArchiveEntry, Document, Envelope

    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            archived = c.execute(sa.select(sa.func.count()).select_from(ArchiveEntry)).scalar()
            documents = c.execute(
                sa.select(sa.func.count()).select_from(Document)
                .join(Envelope, Document.envelope_id == Envelope.id)
                .where(Envelope.status == "completed", Document.superseded_at.is_(None))).scalar()
    finally:
        engine.dispose()
    return int(archived or 0), int(documents or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--jobs", choices=["redis", "thread"], default="redis",
                        help="redis: `docservice worker` runs the jobs (default); thread: the "
                             "web workers run them in-process")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--previews", action="store_true",
                        help="signers also load the page images of the review page")
    parser.add_argument("--think", type=float, default=5.0,
                        help="mean seconds a signer (and the coordinator) reads a page before "
                             "signing (uniform between 0 and twice it; 0: back to back)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for the whole run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    run_deadline = time.monotonic() + args.timeout

    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    url, drop_database = _database(args, root)
    namespace = f"bench-load-{uuid.uuid4().hex[:8]}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    watch = MemoryWatch()
    try:
        with smtp_server() as (inbox, smtp_port):
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
            env.update({
                "DOCSERVICE_ENV": "development", "DOCSERVICE_SECRET_KEY": uuid.uuid4().hex * 2,
                "DOCSERVICE_BASE_URL": base, "DOCSERVICE_INSTANCE_PATH": str(root / "instance"),
                "DOCSERVICE_DATABASE_URL": url, "DOCSERVICE_ARCHIVE_PATH": str(root / "archive"),
                "DOCSERVICE_PKI_PATH": str(root / "pki"),
                "DOCSERVICE_SMTP_HOST": "127.0.0.1", "DOCSERVICE_SMTP_PORT": str(smtp_port),
                "DOCSERVICE_MAIL_FROM": "Stagebureau <stages@school.example.org>",
                "DOCSERVICE_CONVERTERS": "2", "DOCSERVICE_JOBS": args.jobs,
                "DOCSERVICE_REDIS_URL": REDIS_URL, "DOCSERVICE_QUEUE_NAMESPACE": namespace,
            })
            print(f"Load benchmark: {args.placements} placements, {args.concurrency} concurrent "
                  f"signers (think time {args.think:g} s), gunicorn {args.workers} workers, "
                  f"jobs={args.jobs}, {'SQLite' if args.sqlite else 'PostgreSQL'}, "
                  f"{os.cpu_count()} cores")
            setup_started = time.monotonic()
            _run(env, "init")
            _run(env, "pki", "init")
            _run(env, "years", "load", str(CHECKOUT / "data" / "academic-years" / f"{YEAR}.toml"))
            csv_path = root / "placements.csv"
            csv_path.write_bytes(placements_csv(args.placements))
            import_s, _ = _run(env, "placements", "import", str(csv_path))
            _run(env, "users", "add", COORDINATOR[0], "--name", COORDINATOR[1], "--role",
                 "coordinator", "--password-stdin", stdin=PASSWORD + "\n")
            print(f"setup (migrations, PKI, year, users) {time.monotonic() - setup_started:.1f} s;"
                  f" import of {args.placements} placements {import_s:.1f} s")

            log = (root / "service.log").open("ab")
            gunicorn = subprocess.Popen(
                [str(BIN / "gunicorn"), "--workers", str(args.workers), "--bind",
                 f"127.0.0.1:{port}", "--timeout", "120", "docservice.wsgi:app"],
                cwd=CHECKOUT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            processes.append(gunicorn)
            watch.watch(gunicorn.pid, "gunicorn")
            if args.jobs == "redis":
                worker = subprocess.Popen([str(BIN / "docservice"), "worker"], env=env,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
                processes.append(worker)
                watch.watch(worker.pid, "queue worker")
            _wait_http(base, 60)

            generate_s, out = _run(env, "documents", "generate", "--year", YEAR, watch=watch,
                                   role="generation CLI (documents generate)")
            documents = int(re.search(r"Generated (\d+)", out).group(1))  # type: ignore[union-attr]
            print(f"generation of {documents} documents (2 converters) {generate_s:.1f} s "
                  f"({documents / generate_s:.1f} documents/s)")
            open_s, _ = _run(env, "envelopes", "open", "--year", YEAR)
            print(f"opening {args.placements} envelopes {open_s:.1f} s")

            engine = sa.create_engine(url)
            with engine.connect() as c:
                from docservice.models import Placement

                ids = dict(c.execute(sa.select(Placement.student_number, Placement.id)).all())
            engine.dispose()

            stats = Stats()
            flow = Flow(base, inbox, stats, run_deadline, args.previews, args.think)
            failures: list[str] = []
            flow_started = time.monotonic()

            def one(i: int) -> None:
                if STOP.is_set():
                    failures.append(f"envelope {i}: not started (stopped)")
                    return
                try:
                    flow.run(i, ids[f"r{900000 + i:07d}"])
                except Exception as e:  # noqa: BLE001 - counted and reported
                    failures.append(f"envelope {i}: {type(e).__name__}: {e}")

            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                try:
                    list(pool.map(one, range(args.placements)))
                except KeyboardInterrupt:
                    STOP.set()
                    raise
            signed_s = time.monotonic() - flow_started

            archived = (0, 0)
            while time.monotonic() < run_deadline:
                archived = _archived(url)
                if archived[1] and archived[0] >= archived[1]:
                    break
                time.sleep(0.5)
            archived_s = time.monotonic() - flow_started
            verify_s, verify_out = _run(env, "archive", "verify", "--all", check=False)
            verified = re.search(r"(\d+) checked, (\d+) passed, (\d+) failed", verify_out)
            watch.stop()

            requests_made = sum(len(v) for v in stats.latencies.values())
            print(f"\nflow: {args.placements} envelopes signed by student, company and school in "
                  f"{signed_s:.1f} s: {args.placements / signed_s:.2f} envelopes/s, "
                  f"{requests_made / signed_s:.1f} requests/s")
            print(f"{'endpoint':<56}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}  (s)")
            for endpoint, values in sorted(stats.latencies.items()):
                print(f"{endpoint:<56}{len(values):>6}{statistics.median(values):>9.3f}"
                      f"{_percentile(values, 95):>9.3f}{_percentile(values, 99):>9.3f}"
                      f"{max(values):>9.3f}")
            signing = [v for k, vs in stats.latencies.items() if k.startswith("POST /sign/")
                       for v in vs]
            p95_sign = _percentile(signing, 95) if signing else float("nan")
            errors = len(stats.errors) + len(failures)
            print(f"\narchived {archived[0]} of {archived[1]} documents of completed envelopes, "
                  f"{archived_s:.1f} s after the first signer started")
            print(f"archive verify --all: {verify_s:.1f} s: "
                  f"{verified.group(0) if verified else verify_out[-500:]}")
            print("peak RSS per process:")
            print("\n".join(watch.report()))
            print("\ntargets (issue 7, on 2 cores):")
            print(f"  p95 signing POST          {p95_sign:8.3f} s   target <= {TARGET_P95_SIGN} s"
                  f"   {'OK' if p95_sign <= TARGET_P95_SIGN else 'MISSED'}")
            scaled = archived_s * 300 / args.placements
            print(f"  signed and archived       {archived_s:8.1f} s   target <= {TARGET_TOTAL:.0f} s"
                  f" for 300 ({scaled:.0f} s scaled to 300)   "
                  f"{'OK' if scaled <= TARGET_TOTAL and archived[0] >= archived[1] else 'MISSED'}")
            print(f"  errors                    {errors:8d}     target 0"
                  f"   {'OK' if errors == 0 else 'MISSED'}")
            for line in (stats.errors + failures)[:20]:
                print("   ", line)
            all_verified = bool(verified and verified.group(3) == "0"
                                and int(verified.group(1)) == archived[1])
            print(f"  every archived document verifies ({verified.group(0) if verified else '?'})"
                  f"   {'OK' if all_verified else 'MISSED'}")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        drop_database()
        if args.jobs == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(f"{namespace}:*", count=500))
            if keys:
                client.delete(*keys)
        if args.keep:
            print(f"(kept {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
