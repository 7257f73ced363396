"""The long-lived parts of a running service: database, blob store, converters, mail."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from docservice.archive.blobs import FilesystemBlobStore
from docservice.config import Settings
from docservice.db import Database
from docservice.mail import Sender, make_sender


class Runtime:
    """Built once per process from the settings; the converter pool starts on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        for folder in (settings.instance_path, settings.blob_path):
            folder.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.database_url)
        self.blobs = FilesystemBlobStore(settings.blob_path)
        self.mail: Sender = make_sender(settings.mail, settings.outbox_path)
        self._converter: Any = None
        self._signer: Any = None
        self._jobs: ThreadPoolExecutor | None = None
        self._trust: tuple[int, Any] | None = None
        self.trust_notes: tuple[str, ...] = ()
        self._lock = threading.Lock()

    @property
    def converter(self) -> Any:
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
    def signer(self) -> Any:
        """The PAdES signer (PKI, timestamps, school seal), built on first use."""
        with self._lock:
            if self._signer is None:
                from docservice.config import signing_settings
                from docservice.signing.pades import PadesSigner
                from docservice.signing.pki import Pki, refresh_crls

                if self.settings.env != "production":
                    # The development CRLs live a week; stale ones fail every check.
                    refresh_crls(self.settings.pki_path)
                self._signer = PadesSigner(Pki.load(self.settings.pki_path),
                                           signing_settings(self.settings))
            return self._signer

    @property
    def trust(self) -> Any:
        """Whom signatures may chain to: our PKI's root, configured roots, EU trusted lists.

        A trusted-list store that cannot be read leaves a note (`trust_notes`) instead of
        stopping verification: the service's own signatures are still checked.
        """
        from docservice.config import signing_settings
        from docservice.errors import DocserviceError
        from docservice.signing.pades import load_trust_roots
        from docservice.signing.trustlist import load_trust_store, trust_store_path
        from docservice.signing.verify import Trust

        folder = trust_store_path()
        index = folder / "index.json"
        key = index.stat().st_mtime_ns if index.exists() else 0
        if self._trust is None or self._trust[0] != key:
            pki = self.signer.pki
            notes: list[str] = []
            roots = tuple(load_trust_roots(pki, signing_settings(self.settings)))
            qualified: frozenset[bytes] = frozenset()
            try:
                store = load_trust_store(folder)
                roots += tuple(store.roots)
                qualified = frozenset(store.qualified)
            except DocserviceError as e:
                notes.append(f"the EU trusted-list store could not be loaded ({e})")
            self.trust_notes = tuple(notes)
            self._trust = (key, Trust(roots=tuple(dict.fromkeys(roots)), qualified=qualified,
                                      crls=pki.crls))
        return self._trust[1]

    @property
    def student_link_validity(self) -> timedelta:
        return timedelta(days=self.settings.student_link_days or 60)

    def enqueue(self, name: str, *args: Any) -> None:
        """Run the job `name` with `args` (call it after the commit it depends on)."""
        from docservice import tasks

        function = tasks.REGISTRY[name]
        if self.settings.jobs == "inline":
            _run_job(function, self, name, args)
            return
        with self._lock:
            if self._jobs is None:
                self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="job")
            self._jobs.submit(_run_job, function, self, name, args)

    def use_converter(self, converter: Any) -> None:
        """Share an already running converter pool (tests, benchmarks)."""
        with self._lock:
            self._converter = converter

    def close(self) -> None:
        """Finish queued jobs, stop the converters and close database connections."""
        if self._jobs is not None:
            self._jobs.shutdown(wait=True)
            self._jobs = None
        with self._lock:
            if self._converter is not None:
                self._converter.close()
                self._converter = None
            if self._signer is not None:
                self._signer.close()
                self._signer = None
        self.db.dispose()


log = logging.getLogger(__name__)


def _run_job(function: Any, runtime: Runtime, name: str, args: tuple[Any, ...]) -> None:
    # A failed job is logged and left for its retry command; it never breaks the request
    # whose commit queued it.
    try:
        function(runtime, *args)
    except Exception:
        log.exception("job %s%r failed", name, args)
