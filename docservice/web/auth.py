"""Log in and out; who may see which page."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import wraps
from threading import Lock
from typing import Any, TypeVar
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

from docservice.archive import audit
from docservice.models import User
from docservice.services.users import authenticate
from docservice.web import db_session, request_actor

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

class AttemptLimiter:
    """At most `limit` failed attempts per address in a sliding window (per process).

    Serves the login form (wrong passwords) and the personal links (tokens that match
    nothing): both are places where someone could guess a secret by trying many.
    """

    #: Addresses remembered at most; beyond that the stalest are forgotten first.
    MAX_ADDRESSES = 10_000

    def __init__(self, limit: int = 10, window_seconds: float = 15 * 60) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = Lock()

    def _prune(self, attempts: deque[float], now: float) -> None:
        while attempts and attempts[0] < now - self.window:
            attempts.popleft()

    def blocked(self, address: str) -> bool:
        """Whether `address` used up its attempts for now."""
        now = time.monotonic()
        with self._lock:
            attempts = self._failures.get(address)
            if attempts is None:
                return False
            self._prune(attempts, now)
            if not attempts:
                del self._failures[address]
                return False
            return len(attempts) >= self.limit

    def failed(self, address: str) -> None:
        """Count one failed attempt from `address`."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.MAX_ADDRESSES and address not in self._failures:
                self._forget_stalest(now)
            self._failures[address].append(now)

    def _forget_stalest(self, now: float) -> None:
        # Many addresses (an IPv6 sweep) must not grow memory without bound.
        for key in list(self._failures):
            self._prune(self._failures[key], now)
            if not self._failures[key]:
                del self._failures[key]
        while len(self._failures) >= self.MAX_ADDRESSES:
            stalest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[stalest]


#: The name it had when only the login form used it.
LoginLimiter = AttemptLimiter

#: Wrong passwords per address and window; unknown link tokens per address and window.
LOGIN_LIMIT = (10, 15 * 60)
LINK_LIMIT = (30, 15 * 60)
LINK_BLUEPRINTS = ("sign", "student")


@bp.record_once
def _attach_limiters(state: Any) -> None:
    config = state.app.config
    login_limit, login_window = config.get("DOCSERVICE_LOGIN_LIMIT", LOGIN_LIMIT)
    link_limit, link_window = config.get("DOCSERVICE_LINK_LIMIT", LINK_LIMIT)
    state.app.extensions["docservice.login_limiter"] = AttemptLimiter(login_limit, login_window)
    state.app.extensions["docservice.link_limiter"] = AttemptLimiter(link_limit, link_window)
    state.app.before_request(_refuse_link_guessers)


def _limiter() -> AttemptLimiter:
    return current_app.extensions["docservice.login_limiter"]  # type: ignore[no-any-return]


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
        message = ("Too many links that do not exist were tried from your address. Wait a "
                   "quarter of an hour, then open the link from your e-mail again.")
        if request.accept_mimetypes.best == "application/json":
            return {"error": "Too many attempts", "message": message}, 429
        return render_template("error.html", status=429, title="Too many attempts",
                               message=message), 429
    return None


def count_unknown_link() -> None:
    """Note that this request's link token matched nothing (called on a 404 for a link)."""
    if request.blueprint in LINK_BLUEPRINTS:
        link_limiter().failed(_client_address())


def current_user() -> User | None:
    """The logged-in user of this request, if any."""
    if "user" not in g:
        user_id = session.get("user_id")
        user = db_session().get(User, user_id) if user_id else None
        g.user = user if user is not None and user.active else None
    return g.user  # type: ignore[no-any-return]


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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    address = _client_address()
    if _limiter().blocked(address):
        return render_template("login.html", error="Too many failed attempts. Try again in "
                               "15 minutes.", next=""), 429
    email = request.form.get("email", "")
    user = authenticate(db_session(), email, request.form.get("password", ""))
    if user is None:
        _limiter().failed(address)
        return render_template("login.html", error="Wrong e-mail address or password.",
                               next=request.form.get("next", "")), 401
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    audit.record(db_session(), "user.login", request_actor(user.email))
    return redirect(_safe_next(request.form.get("next"), user.role))


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
