"""Log in and out; who may see which page."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from functools import wraps
from threading import Lock
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from docservice.archive import audit
from docservice.config import Settings
from docservice.models import User
from docservice.services.users import authenticate
from docservice.web import db_session, request_actor

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class AttemptStoreUnavailable(Exception):
    """The shared store of failed attempts did not answer."""


class AttemptStore(Protocol):
    """Where failed attempts are counted: per key, in a sliding window of `window` seconds."""

    def count(self, key: str, window: float) -> int:
        """Attempts under `key` in the last `window` seconds."""

    def add(self, key: str, window: float, keep: int) -> None:
        """Count one attempt under `key` now; at most the newest `keep` need be remembered."""


class MemoryAttempts:
    """Failed attempts in this process's memory: the embedded default (one process)."""

    #: Keys remembered at most; beyond that the stalest are forgotten first.
    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = Lock()

    def count(self, key: str, window: float) -> int:
        now = time.monotonic()
        with self._lock:
            attempts = self._failures.get(key)
            if attempts is None:
                return 0
            _prune(attempts, now - window)
            if not attempts:
                del self._failures[key]
            return len(attempts)

    def add(self, key: str, window: float, keep: int) -> None:
        now = time.monotonic()
        with self._lock:
            if key not in self._failures:
                if len(self._failures) >= self.MAX_KEYS:
                    self._forget_stalest(now - window)
                self._failures[key] = deque(maxlen=max(keep, 1))
            self._failures[key].append(now)

    def _forget_stalest(self, since: float) -> None:
        # Many addresses (an IPv6 sweep) must not grow memory without bound.
        for key in list(self._failures):
            _prune(self._failures[key], since)
            if not self._failures[key]:
                del self._failures[key]
        while len(self._failures) >= self.MAX_KEYS:
            stalest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[stalest]


def _prune(attempts: deque[float], since: float) -> None:
    while attempts and attempts[0] < since:
        attempts.popleft()


class RedisAttempts:
    """Failed attempts in Redis, shared by every worker and host: a sorted set per key.

    Each attempt is a member scored by its time (the wall clock, which the hosts share); a count
    first drops the members older than the window, and every key expires a window after its last attempt. While Redis does not
    answer, `fallback` (this process's memory) counts instead: a login must not fail because
    Redis is down, and some limit is better than none. One warning per outage.
    """

    #: Seconds to wait after a failure before asking Redis again (a timeout costs a request).
    RETRY_AFTER = 5.0

    def __init__(self, client: Any, prefix: str, *, fallback: AttemptStore | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.fallback = fallback if fallback is not None else MemoryAttempts()
        self._retry_at: float | None = None  # set while Redis is unreachable
        self._lock = Lock()

    @classmethod
    def from_url(cls, url: str, prefix: str, *, timeout: float = 0.5) -> RedisAttempts:
        """A store on the Redis at `url`; connects on first use, gives up after `timeout` s."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One immediate retry (a pooled connection Redis closed); no backoff: a request waits.
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout,
                                      socket_timeout=timeout, retry=Retry(NoBackoff(), 1))
        return cls(client, prefix)

    def count(self, key: str, window: float) -> int:
        try:
            return self._shared_count(self.prefix + key, window)
        except AttemptStoreUnavailable:
            return self.fallback.count(key, window)

    def add(self, key: str, window: float, keep: int) -> None:
        try:
            self._shared_add(self.prefix + key, window, keep)
        except AttemptStoreUnavailable:
            self.fallback.add(key, window, keep)

    def _shared_count(self, key: str, window: float) -> int:
        now = time.time()

        def commands(pipe: Any) -> None:
            pipe.zremrangebyscore(key, "-inf", f"({now - window}")
            pipe.zcard(key)

        return int(self._transaction(commands)[-1])

    def _shared_add(self, key: str, window: float, keep: int) -> None:
        now = time.time()
        member = f"{now:.6f}:{secrets.token_hex(4)}"  # unique: two attempts in one microsecond

        def commands(pipe: Any) -> None:
            pipe.zadd(key, {member: now})
            pipe.zremrangebyscore(key, "-inf", f"({now - window}")
            pipe.zremrangebyrank(key, 0, -max(keep, 1) - 1)  # a bound, however many arrive
            pipe.pexpire(key, max(math.ceil(window * 1000), 1))

        self._transaction(commands)

    def _transaction(self, commands: Callable[[Any], None]) -> list[Any]:
        """Run `commands` in one MULTI/EXEC; AttemptStoreUnavailable when Redis does not answer."""
        import redis

        if self._retry_at is not None and time.monotonic() < self._retry_at:
            raise AttemptStoreUnavailable()
        try:
            with self.client.pipeline(transaction=True) as pipe:
                commands(pipe)
                results: list[Any] = pipe.execute()
        except redis.RedisError as e:
            with self._lock:
                if self._retry_at is None:
                    log.warning("rate limits: Redis unreachable (%s); counting failed attempts "
                                "per process until it answers again", e)
                self._retry_at = time.monotonic() + self.RETRY_AFTER
            raise AttemptStoreUnavailable() from e
        if self._retry_at is not None:
            with self._lock:
                if self._retry_at is not None:
                    log.info("rate limits: Redis is back; counting in Redis again")
                    self._retry_at = None
        return results

    def close(self) -> None:
        """Close the connections to Redis."""
        self.client.close()


class AttemptLimiter:
    """At most `limit` failed attempts per address in a sliding window.

    Serves the login form (wrong passwords) and the personal links (tokens that match
    nothing): both are places where someone could guess a secret by trying many. The
    attempts are counted in `store`: this process's memory by default, Redis when several
    workers (or hosts) serve the site, so that they share one count.
    """

    def __init__(self, limit: int = 10, window_seconds: float = 15 * 60, *,
                 name: str = "attempts", store: AttemptStore | None = None) -> None:
        self.limit = limit
        self.window = window_seconds
        self.name = name
        self.store: AttemptStore = store if store is not None else MemoryAttempts()

    def blocked(self, address: str) -> bool:
        """Whether `address` used up its attempts for now."""
        return self.store.count(f"{self.name}:{address}", self.window) >= self.limit

    def failed(self, address: str) -> None:
        """Count one failed attempt from `address`."""
        self.store.add(f"{self.name}:{address}", self.window, self.limit)


#: The name it had when only the login form used it.
LoginLimiter = AttemptLimiter


class AccountLockout:
    """At most `limit` failed logins per account in `window` seconds, from wherever they come;
    then the account is locked for `lock` seconds, even for the right password.

    Counted per e-mail address as typed (its SHA-256), whether an account has it or not: an
    unknown address locks the same way, so the lock does not tell which accounts exist.
    """

    def __init__(self, limit: int = 10, window_seconds: float = 15 * 60,
                 lock_seconds: float | None = None, *, store: AttemptStore | None = None
                 ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.lock = window_seconds if lock_seconds is None else lock_seconds
        self.store: AttemptStore = store if store is not None else MemoryAttempts()

    @staticmethod
    def _account(email: str) -> str:
        return hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()[:32]

    def locked(self, email: str) -> bool:
        """Whether the account of `email` is locked now."""
        return self.store.count(f"lockout:{self._account(email)}", self.lock) > 0

    def failed(self, email: str) -> bool:
        """Count one failed login for `email`; True when this one locks the account."""
        key = f"account:{self._account(email)}"
        self.store.add(key, self.window, self.limit)
        if self.store.count(key, self.window) < self.limit:
            return False
        self.store.add(f"lockout:{self._account(email)}", self.lock, 1)
        return True

#: Wrong passwords per address and window; unknown link tokens per address and window.
LOGIN_LIMIT = (10, 15 * 60)
LINK_LIMIT = (30, 15 * 60)
LINK_BLUEPRINTS = ("sign", "student", "copies")


def attempt_store(settings: Settings) -> AttemptStore:
    """Where this service counts failed attempts (DOCSERVICE_RATE_LIMIT_STORE)."""
    if settings.rate_limit_store == "redis":
        return RedisAttempts.from_url(settings.queue.redis_url,
                                      f"{settings.queue.namespace}:ratelimit:")
    return MemoryAttempts()


@bp.record_once
def _attach_limiters(state: Any) -> None:
    config = state.app.config
    login_limit, login_window = config.get("DOCSERVICE_LOGIN_LIMIT", LOGIN_LIMIT)
    link_limit, link_window = config.get("DOCSERVICE_LINK_LIMIT", LINK_LIMIT)
    store = attempt_store(config["DOCSERVICE_SETTINGS"])
    state.app.extensions["docservice.attempts"] = store
    state.app.extensions["docservice.login_limiter"] = AttemptLimiter(
        login_limit, login_window, name="login", store=store)
    state.app.extensions["docservice.link_limiter"] = AttemptLimiter(
        link_limit, link_window, name="link", store=store)
    settings: Settings = config["DOCSERVICE_SETTINGS"]
    state.app.extensions["docservice.account_lockout"] = AccountLockout(
        settings.login_lockout_failures, settings.login_lockout_minutes * 60, store=store)
    state.app.before_request(_refuse_link_guessers)


def _limiter() -> AttemptLimiter:
    return current_app.extensions["docservice.login_limiter"]  # type: ignore[no-any-return]


def account_lockout() -> AccountLockout:
    """Counts failed logins per account, whatever the address."""
    return current_app.extensions["docservice.account_lockout"]  # type: ignore[no-any-return]


def note_rate_limited(limiter: AttemptLimiter, address: str, actor: audit.Actor) -> None:
    """Put the first refusal of a window for `address` in the audit trail; later ones of the
    same window add nothing (a flood of refused requests must not flood the trail)."""
    key = f"{limiter.name}-refused:{address}"
    if limiter.store.count(key, limiter.window) > 0:
        return
    limiter.store.add(key, limiter.window, 1)
    audit.record_refusal(db_session(), "security.rate_limited", actor, limit=limiter.name,
                         address=address, attempts=limiter.limit,
                         window_seconds=int(limiter.window))


def link_limiter() -> AttemptLimiter:
    """Counts link tokens that matched nothing, per address."""
    return current_app.extensions["docservice.link_limiter"]  # type: ignore[no-any-return]


def _client_address() -> str:
    return request.remote_addr or "-"


def _refuse_link_guessers() -> Any:
    """Too many unknown tokens from one address: stop answering link pages for a while."""
    if request.blueprint not in LINK_BLUEPRINTS:
        return None
    if link_limiter().blocked(_client_address()):
        note_rate_limited(link_limiter(), _client_address(), request_actor("anonymous"))
        if request.accept_mimetypes.best == "application/json":
            return {"error": "Too many attempts",
                    "message": "Too many links that do not exist were tried from your address. "
                    "Wait a quarter of an hour, then open the link from your e-mail again."}, 429
        return render_template(
            "error.html", status=429, title=_("Te veel pogingen"),
            message=_("Vanaf uw adres werden te veel links geprobeerd die niet bestaan. Wacht "
                      "een kwartier en open dan opnieuw de link uit uw e-mail.")), 429
    return None


def count_unknown_link() -> None:
    """Note that this request's link token matched nothing (called on a 404 for a link)."""
    if request.blueprint in LINK_BLUEPRINTS:
        link_limiter().failed(_client_address())


#: What a login puts in the session cookie besides the user's id.
SESSION_KEYS = ("user_id", "session_version", "login_at")


def current_user() -> User | None:
    """The logged-in user of this request, if any (and if their session still holds)."""
    if "user" not in g:
        g.user = _session_user()
    return g.user  # type: ignore[no-any-return]


def _session_user() -> User | None:
    """The session's user, unless the session ended: the account was deactivated, its sessions
    were ended (logout, password change: `User.session_version`), or the login is older than
    the absolute lifetime. The idle timeout is the cookie's own (PERMANENT_SESSION_LIFETIME)."""
    user_id = session.get("user_id")
    if not user_id:
        return None
    user = db_session().get(User, user_id)
    settings: Settings = current_app.config["DOCSERVICE_SETTINGS"]
    login_at = session.get("login_at")
    live = (user is not None and user.active
            and session.get("session_version") == user.session_version
            and isinstance(login_at, int | float)
            and time.time() - login_at < settings.session_absolute_hours * 3600)
    if not live:
        for key in SESSION_KEYS:
            session.pop(key, None)
        return None
    return user


def require_role(*roles: str) -> Callable[[F], F]:
    """Only logged-in users with one of `roles`; others go to the login page or get 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in roles and user.role != "admin":
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def is_local_path(target: str | None) -> bool:
    """Whether `target` is a path on this site (never another host, however it is spelled).

    Browsers drop tabs and line breaks inside URLs and read a backslash as a slash, so
    "/\\t/evil.example" or "/\\evil.example" would leave the site: refuse all of those.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def _safe_next(target: str | None, role: str = "coordinator") -> str:
    # Only paths on this site: never an open redirect to another host.
    if is_local_path(target):
        return target  # type: ignore[return-value]
    # Auditors have no coordinator pages: they start at the archive.
    return url_for("archive.search") if role == "auditor" else url_for("coordinator.dashboard")


def _typed_email(email: str) -> str:
    """The e-mail address as typed, fit to name the actor of a trail entry."""
    return "".join(c if c.isprintable() else "?" for c in email.strip())[:254] or "-"


@bp.get("/")
def home() -> Any:
    """Each role's landing page: the desk for coordinators and admins, the archive for
    auditors; whoever is not logged in goes to the login form (signers use their links)."""
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(_safe_next(None, user.role))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    address = _client_address()
    email = request.form.get("email", "")
    actor = request_actor(_typed_email(email))
    if _limiter().blocked(address):
        note_rate_limited(_limiter(), address, actor)
        return render_template("login.html", error=_("Te veel mislukte pogingen. Probeer "
                                                     "opnieuw over 15 minuten."),
                               next="", email=email), 429
    lockout = account_lockout()
    if lockout.locked(email):
        # Not even the right password: the account is locked, wherever the attempts came from.
        audit.record_refusal(db_session(), "user.login_failed", actor, reason="account locked")
        minutes = math.ceil(lockout.lock / 60)
        return render_template("login.html", error=_("Te veel mislukte pogingen voor dit "
                                                     "account. Probeer opnieuw over "
                                                     "%(minutes)s minuten.", minutes=minutes),
                               next="", email=email), 429
    user = authenticate(db_session(), email, request.form.get("password", ""))
    if user is None:
        _limiter().failed(address)
        audit.record_refusal(db_session(), "user.login_failed", actor,
                             reason="wrong e-mail address or password")
        if lockout.failed(email):
            audit.record_refusal(db_session(), "user.locked_out", actor,
                                 failures=lockout.limit, window_seconds=int(lockout.window),
                                 locked_seconds=int(lockout.lock))
        return render_template("login.html", error=_("Verkeerd e-mailadres of wachtwoord."),
                               next=request.form.get("next", ""), email=email), 401
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["session_version"] = user.session_version
    session["login_at"] = int(time.time())
    audit.record(db_session(), "user.login", request_actor(user.email))
    return redirect(_safe_next(request.form.get("next"), user.role))


@bp.post("/logout")
def logout() -> Any:
    user = current_user()
    if user is not None:
        # Every session of the user ends, also a copy of this cookie kept elsewhere.
        user.end_sessions()
        audit.record(db_session(), "user.logout", request_actor(user.email))
    session.clear()
    flash(_("U bent afgemeld."))
    return redirect(url_for("auth.login"))
