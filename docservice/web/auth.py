"""Log in and out; who may see which page."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import wraps
from threading import Lock
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from docservice.archive import audit
from docservice.models import User
from docservice.services.users import authenticate
from docservice.web import db_session, request_actor

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

#: At most this many failed logins per address in the window.
MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60
_failures: dict[str, deque[float]] = defaultdict(deque)
_failures_lock = Lock()


def _too_many_failures(address: str) -> bool:
    now = time.monotonic()
    with _failures_lock:
        attempts = _failures[address]
        while attempts and attempts[0] < now - WINDOW_SECONDS:
            attempts.popleft()
        return len(attempts) >= MAX_FAILURES


def _record_failure(address: str) -> None:
    with _failures_lock:
        _failures[address].append(time.monotonic())


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


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another host.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        if not urlsplit(target).netloc:
            return target
    return url_for("coordinator.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    address = request.remote_addr or "-"
    if _too_many_failures(address):
        return render_template("login.html", error="Too many failed attempts. Try again in "
                               "15 minutes.", next=""), 429
    email = request.form.get("email", "")
    user = authenticate(db_session(), email, request.form.get("password", ""))
    if user is None:
        _record_failure(address)
        return render_template("login.html", error="Wrong e-mail address or password.",
                               next=request.form.get("next", "")), 401
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    audit.record(db_session(), "user.login", request_actor(user.email))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
