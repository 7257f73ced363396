"""Fixtures of the browser tests: a live server per module, Debian's Chromium, a console watch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from docservice import create_app, migrate
from docservice.config import CHECKOUT, MailSettings
from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox, free_port
from docservice.services.years import load_year_file
from tests.conftest import make_settings
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, COORDINATOR_LOGIN, Console, Live
from tests.web.helpers import make_user


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, pki_path: Path, converter: Any,
         smtp_session: tuple[Inbox, int]) -> Iterator[Live]:
    """The app on a fresh SQLite file, served over real HTTP by werkzeug in a thread."""
    root = tmp_path_factory.mktemp("e2e")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    mail = MailSettings(smtp_host="127.0.0.1", smtp_port=smtp_session[1],
                        sender="Stagebureau <stages@school.example.org>")
    settings = replace(make_settings(root, f"sqlite:///{root / 'e2e.sqlite3'}",
                                     pki_path=pki_path, mail=mail),
                       base_url=base_url)  # the e-mailed links point at the live server
    app = create_app(settings=settings)
    rt: Runtime = app.extensions["docservice"]
    rt.use_converter(converter)
    migrate.upgrade(rt.db)
    with unit_of_work(rt.db) as session:
        load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")
    make_user(rt, email=COORDINATOR_LOGIN)

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield Live(base_url, rt, smtp_session[0], app)
    finally:
        server.shutdown()
        thread.join(10)
        rt.use_converter(None)
        rt.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_context(browser: Browser, console: Console
                ) -> Iterator[Callable[..., BrowserContext]]:
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = console.watch(browser.new_context(locale="nl-BE", **options))
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
