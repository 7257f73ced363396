"""The long-lived parts of a running service: database, blob store, converters, mail."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docservice.archive.blobs import FilesystemBlobStore
from docservice.archive.store import ArchiveStore, make_store
from docservice.config import Settings
from docservice.db import Database
from docservice.mail.delivery import Mailer, make_sender

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

    from docservice.documents.convert import ConverterPool
    from docservice.signing.ltv import LtvSources
    from docservice.signing.pades import PadesSigner
    from docservice.signing.verify import Trust


class Runtime:
    """Built once per process from the settings; the converter pool starts on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        keep_files_private(settings)
        self.db = Database(settings.database_url)
        self.blobs = FilesystemBlobStore(settings.blob_path)
        self.mail = Mailer(make_sender(settings.mail, settings.outbox_path), self.enqueue)
        self._converter: ConverterPool | None = None
        self._signer: PadesSigner | None = None
        self._jobs: ThreadPoolExecutor | None = None
        self._jobs_pending = 0
        self._broker: RedisBroker | None = None
        self._trust: tuple[int, Trust] | None = None
        self.trust_notes: tuple[str, ...] = ()
        self._archive_store: ArchiveStore | None = None
        self._ltv_sources: tuple[int, LtvSources] | None = None
        from docservice.services.desk_verification import Verifier

        # The desk's verifier, with the service's trust (read first: it sets trust_notes).
        self.verifier = Verifier(lambda: (self.trust, self.trust_notes))
        from docservice.services.desk_status import StatusCache

        # The desk's cohort statuses, kept for this process until the database changes.
        self.desk_statuses = StatusCache()
        self._lock = threading.Lock()
        from docservice.jobs import registry

        registry.load()  # every job of the service can be enqueued and run from here

    @property
    def converter(self) -> ConverterPool:
        """The pool of warm LibreOffice converters, started on first use."""
        with self._lock:
            if self._converter is None:
                from docservice.documents.convert import ConverterPool

                self._converter = ConverterPool(
                    size=self.settings.converters,
                    uno_python=self.settings.uno_python,
                    soffice=self.settings.soffice,
                    timeout=self.settings.conversion_timeout,
                )
            return self._converter

    @property
    def signer(self) -> PadesSigner:
        """The PAdES signer (PKI, timestamps, school seal), built on first use."""
        with self._lock:
            if self._signer is None:
                from docservice.signing.pades import PadesSigner
                from docservice.signing.pki import Pki, refresh_crls

                if self.settings.env != "production":
                    # The development CRLs live a week; stale ones fail every check.
                    refresh_crls(self.settings.pki_path)
                self._signer = PadesSigner(Pki.load(self.settings.pki_path),
                                           self.settings.signatures)
            return self._signer

    @property
    def trust(self) -> Trust:
        """Whom signatures may chain to: our PKI's root, configured roots, EU trusted lists.

        A trusted-list store that cannot be read leaves a note (`trust_notes`) instead of
        stopping verification: the service's own signatures are still checked.
        """
        from docservice.signing.verify.sources import trust_from_settings

        index = self.settings.trust_path / "index.json"
        key = index.stat().st_mtime_ns if index.exists() else 0
        if self._trust is None or self._trust[0] != key:
            # The signer's PKI: its CRLs are the ones it keeps fresh in development.
            trust, self.trust_notes = trust_from_settings(self.settings, pki=self.signer.pki)
            self._trust = (key, trust)
        return self._trust[1]

    @property
    def archive_store(self) -> ArchiveStore:
        """The write-once archive store (`settings.archive`), made on first use."""
        with self._lock:
            if self._archive_store is None:
                self._archive_store = make_store(self.settings.archive)
            return self._archive_store

    def use_archive_store(self, store: ArchiveStore) -> None:
        """Archive into `store` (tests, benchmarks, a migration between stores)."""
        with self._lock:
            self._archive_store = store

    def ltv_sources(self, *, now: datetime | None = None) -> LtvSources:
        """What completing to B-LTA needs: trust roots, current CRLs, the TSA, and the signer
        CA as status responder; kept while the signer's PKI and its CRLs stay current."""
        from docservice.signing import ltv
        from docservice.signing.pades import load_trust_roots
        from docservice.signing.pki import Pki, crls_expire_before, refresh_crls

        now = now or datetime.now(UTC)
        soon = now + timedelta(hours=1)  # CRLs that expire within the hour count as stale
        signer = self.signer
        pki = signer.pki
        cached = self._ltv_sources
        if (cached is not None and cached[0] == id(pki)
                and not crls_expire_before(cached[1].crls, soon)):
            return cached[1]
        if crls_expire_before(pki.crls, soon) and self.settings.env != "production":
            # The development CRLs live a week: a long-running process re-issues them.
            refresh_crls(pki.folder, now=now)
            pki_now = Pki.load(pki.folder)
        else:
            pki_now = pki
        signer_crl = next((c for c in pki_now.crls if c.issuer == pki_now.signer_ca.subject),
                          None)
        sources = ltv.LtvSources(
            trust_roots=load_trust_roots(pki_now, signer.settings),
            crls=pki_now.crls,
            timestamper=signer.timestamper,
            responders=(ltv.StatusResponder(pki_now.signer_ca_x509, pki_now.signer_ca_key,
                                            signer_crl),),
            trust_path=self.settings.trust_path,
        )
        self._ltv_sources = (id(pki), sources)
        return sources

    @property
    def student_link_validity(self) -> timedelta:
        return timedelta(days=self.settings.student_link_days or 60)

    def enqueue(self, name: str, *args: Any) -> None:
        """Record and run the job `name` with `args` (call it after the commit it depends on).

        Never raises: a job that cannot be recorded or queued is logged, and its work is found
        again by `docservice jobs retry` / `docservice mail flush`.
        """
        from docservice.jobs import registry, runs

        if name not in registry.REGISTRY:
            raise KeyError(f"no job called {name!r}")
        try:
            run_id: int | None = runs.record_run(self.db, name, args, mode=self.settings.jobs)
        except Exception:
            log.exception("job %s%r could not be recorded; running it unrecorded", name, args)
            run_id = None
        self.dispatch(run_id, name, list(args))

    def dispatch(self, run_id: int | None, name: str, args: list[Any]) -> None:
        """Hand a recorded job run to whoever runs jobs here: inline, a thread, or the queue."""
        mode = self.settings.jobs
        if mode == "inline":
            _run_job(self, run_id, name, args)
        elif mode == "redis":
            from docservice.jobs import queue

            try:
                queue.send(self.broker, run_id, name, args)
            except Exception:
                log.exception("job %s%r (run %s) could not be queued: `docservice jobs retry` "
                              "will queue it again", name, tuple(args), run_id)
        else:
            with self._lock:
                if self._jobs is None:
                    self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="job")
                try:
                    self._jobs.submit(self._run_in_thread, run_id, name, args)
                    self._jobs_pending += 1
                    return
                except RuntimeError:  # closing: a job queued by the last jobs runs right here
                    pass
            _run_job(self, run_id, name, args)

    def _run_in_thread(self, run_id: int | None, name: str, args: list[Any]) -> None:
        with self._lock:
            self._jobs_pending -= 1
        _run_job(self, run_id, name, args)

    @property
    def broker(self) -> RedisBroker:
        """The Dramatiq broker on Redis (DOCSERVICE_JOBS=redis), made on first use."""
        with self._lock:
            if self._broker is None:
                from docservice.jobs import queue

                self._broker = queue.make_broker(self.settings)
            return self._broker

    def queue_depth(self) -> int | None:
        """Jobs waiting to run: on the Redis queue, or in this process's thread pool; None when
        the queue cannot be asked (Redis unreachable)."""
        if self.settings.jobs == "inline":
            return 0
        if self.settings.jobs == "thread":
            return self._jobs_pending
        from docservice.jobs import queue

        try:
            return queue.depth(self.broker)
        except Exception:  # noqa: BLE001 - an unreachable Redis is an answer here, not an error
            log.warning("queue depth unknown: Redis at %s unreachable",
                        self.settings.queue.redis_url)
            return None

    def use_converter(self, converter: ConverterPool | None) -> None:
        """Share an already running converter pool (tests, benchmarks)."""
        with self._lock:
            self._converter = converter

    def close(self) -> None:
        """Finish queued jobs, stop the converters and close database connections."""
        if self._jobs is not None:
            self._jobs.shutdown(wait=True)
            self._jobs = None
        if self._broker is not None:
            self._broker.close()
            self._broker = None
        with self._lock:
            if self._converter is not None:
                self._converter.close()
                self._converter = None
            if self._signer is not None:
                self._signer.close()
                self._signer = None
        self.db.dispose()


log = logging.getLogger(__name__)

#: What this process creates is its account's alone: live links in the outbox, contracts in
#: the blobs and the archive, the database, logs.
PRIVATE_UMASK = 0o077


def keep_files_private(settings: Settings) -> None:
    """Make every file this process creates owner-only (umask 077), and the service's folders
    (instance, blobs, outbox, archive; those an older version made too) 0700."""
    os.umask(PRIVATE_UMASK)
    for folder in (settings.instance_path, settings.blob_path):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (settings.instance_path, settings.blob_path, settings.outbox_path,
                   settings.archive_path):
        try:
            if folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) & 0o077:
                folder.chmod(0o700)
        except OSError as e:  # not ours (a shared mount): say so, and go on
            log.warning("could not make %s private (chmod 700): %s", folder, e)
    database = _sqlite_file(settings.database_url)
    if database is not None and database.exists():
        with contextlib.suppress(OSError):
            database.chmod(0o600)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for another database, or one in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _run_job(runtime: Runtime, run_id: int | None, name: str, args: list[Any]) -> None:
    # In the service's own process a job runs once; a failure is recorded and logged, and
    # waits for `docservice jobs retry`. It never breaks the request whose commit queued it.
    from docservice.jobs import registry

    try:
        registry.execute(runtime, run_id, name, args, final=True)
    except Exception:
        log.exception("job %s%r failed", name, tuple(args))
