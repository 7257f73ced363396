"""Engine, sessions and the unit of work: the one place where transactions end."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

AfterCommit = Callable[[], None]
#: A write that must happen whatever becomes of the transaction (see `keep_on_rollback`).
Survivor = Callable[[Session], None]

log = logging.getLogger(__name__)

#: How JSON columns are written: keys sorted, no spaces, UTF-8 as is. One spelling for one
#: value, so the audit trail can hash the stored text as it is (`archive.audit`).
CANONICAL_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {"future": True, "json_serializer": CANONICAL_JSON.encode}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            if url.startswith("postgresql"):
                # A server that hangs instead of refusing must not hang /readyz or a request.
                kwargs["connect_args"] = {"connect_timeout": 10}
        self.url = url
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session; prefer `unit_of_work` unless you close it yourself."""
        return self.sessions()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def after_commit(session: Session, action: AfterCommit) -> None:
    """Run `action` once the session's transaction has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(action)


def keep_on_rollback(session: Session, write: Survivor) -> None:
    """Have `write(session)` done whatever becomes of the session's transaction.

    When the unit of work commits, `write` runs in its transaction, just before the commit;
    when it rolls back (a refused request always does), `write` runs right after, in a
    transaction of its own. For what must outlive a refusal: the audit trail's record of it.
    """
    session.info.setdefault("keep_on_rollback", []).append(write)


def commit(session: Session) -> None:
    """Commit, then run what waited for the commit (mail, jobs)."""
    for write in session.info.get("keep_on_rollback", ()):
        write(session)
    session.commit()
    session.info.pop("keep_on_rollback", None)
    actions: list[AfterCommit] = session.info.pop("after_commit", [])
    for action in actions:
        action()


def rollback(session: Session) -> None:
    """Roll back and forget what waited for a commit; then write, in a transaction of their
    own, what must survive the rollback (`keep_on_rollback`)."""
    session.rollback()
    session.info.pop("after_commit", None)
    survivors: list[Survivor] = session.info.pop("keep_on_rollback", [])
    if not survivors:
        return
    try:
        for write in survivors:
            write(session)
        session.commit()
    except Exception:
        # The database itself may be what failed: the refusal stands, its record is logged.
        log.exception("%d event(s) that had to outlive a rollback could not be written",
                      len(survivors))
        session.rollback()
    session.info.pop("after_commit", None)
    session.info.pop("keep_on_rollback", None)


@contextmanager
def unit_of_work(db: Database) -> Iterator[Session]:
    """A session for one command or job: commit on success, roll back on any exception."""
    session = db.session()
    try:
        yield session
        commit(session)
    except BaseException:
        rollback(session)
        raise
    finally:
        session.close()
