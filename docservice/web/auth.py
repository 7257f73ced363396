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

class LoginLimiter:
    """At most `limit` failed logins per address in a sliding window (per process)."""

    def __init__(self, limit: int = 10, window_seconds: float = 15 * 60) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = Lock()

    def blocked(self, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            attempts = self._failures[address]
            while attempts and attempts[0] < now - self.window:
                attempts.popleft()
            return len(attempts) >= self.limit

    def failed(self, address: str) -> None:
        with self._lock:
            self._failures[address].append(time.monotonic())


@bp.record_once
def _attach_limiter(state: Any) -> None:
    state.app.extensions["docservice.login_limiter"] = LoginLimiter()


def _limiter() -> LoginLimiter:
    return current_app.extensions["docservice.login_limiter"]  # type: ignore[no-any-return]


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


def _safe_next(target: str | None, role: str = "coordinator") -> str:
    # Only paths on this site: never an open redirect to another host.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        if not urlsplit(target).netloc:
            return target
    # Auditors have no coordinator pages: they start at the archive.
    return url_for("archive.search") if role == "auditor" else url_for("coordinator.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    address = request.remote_addr or "-"
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
