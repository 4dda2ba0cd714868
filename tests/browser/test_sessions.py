"""Sessions in a real browser: a sign-in survives a reload, a bookmark and a second tab; signing out
in one tab signs the others out on their next run; two app processes on one database share the
session; a temporary password is changed before anything else.

Starts two `streamlit run app.py` processes on free ports of 127.0.0.1 against the same fresh
PostgreSQL database (a browser sends a host's cookies to every port of it, as it would to every
replica behind a load balancer) and drives them with headless Chromium through Playwright.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from db.engine import make_engine
from rag.auth import add_user
from tests.browser.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    _free_port,
    _offline_env,
    _stop,
    _wait_healthy,
    shown,
)

PASSWORD = "correct horse battery"
MANAGER = "boss@example.com"
AGENT = "ana@example.com"
TEMPORARY = "a temporary password"
COOKIE = "kc_session"


def _start(database_url: str, tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = _offline_env(tmp_path / "data", DATABASE_URL=database_url)
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    cmd += ["--browser.gatherUsageStats", "false"]
    with (tmp_path / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture
def apps(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two app processes on one database with a manager and an agent (temporary password)."""
    engine = make_engine(database_url)
    try:
        add_user(engine, MANAGER, "manager", actor="test", password=PASSWORD, name="Bo Boss")
        add_user(engine, AGENT, "agent", actor=MANAGER, password=TEMPORARY, temporary=True)
    finally:
        engine.dispose()
    started = [_start(database_url, tmp_path, name) for name in ("app1", "app2")]
    try:
        for (proc, url), name in zip(started, ("app1", "app2"), strict=True):
            _wait_healthy(proc, url, tmp_path / f"{name}.log")
        yield started[0][1], started[1][1]
    finally:
        for proc, _url in started:
            _stop(proc)


@pytest.fixture
def context() -> Iterator[BrowserContext]:
    """One browser profile: its tabs share cookies, on every port of 127.0.0.1."""
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(viewport={"width": 1300, "height": 850})
        finally:
            browser.close()


Shot = Callable[[Page, str], None]


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    def take(page: Page, name: str) -> None:
        page.screenshot(path=str(tmp_path / f"sessions-{name}.png"), full_page=True)

    return take


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator('[data-testid="stApp"]')).to_be_visible(timeout=60_000)


def _sign_in(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=60_000)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _signed_in(page: Page, email: str) -> None:
    expect(page.get_by_text(shown(f"Signed in: {email}"))).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="Sign in")).to_have_count(0)


def _signed_out(page: Page) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Signed in:")).to_have_count(0)


def _session_cookie(context: BrowserContext) -> dict[str, object] | None:
    return next((dict(c) for c in context.cookies() if c["name"] == COOKIE), None)


def _wait_for_cookie(context: BrowserContext, present: bool) -> dict[str, object] | None:
    deadline = time.monotonic() + 30
    while (_session_cookie(context) is not None) != present:
        if time.monotonic() > deadline:
            pytest.fail(f"the session cookie is {'missing' if present else 'still there'}")
        time.sleep(0.2)
    return _session_cookie(context)


def _menu(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()


@pytest.mark.browser
def test_a_sign_in_survives_reloads_and_tabs_until_signed_out(
    apps: tuple[str, str], context: BrowserContext, shot: Shot
) -> None:
    app, _ = apps
    page = context.new_page()
    _open(page, app)
    expect(page.get_by_text("After several failed attempts")).to_be_visible(timeout=60_000)
    expect(page.get_by_label("Password", exact=True)).to_be_visible(timeout=30_000)
    shot(page, "1-sign-in")
    _sign_in(page, MANAGER, "not the password")
    expect(page.get_by_text("Wrong email or password.")).to_be_visible(timeout=30_000)
    _sign_in(page, MANAGER, PASSWORD)
    _signed_in(page, MANAGER)

    # The cookie: only the opaque token, SameSite=Strict, for the whole site, 12 hours.
    cookie = _wait_for_cookie(context, present=True)
    assert cookie is not None
    assert MANAGER not in str(cookie["value"]) and len(str(cookie["value"])) == 43
    assert (cookie["sameSite"], cookie["path"], cookie["secure"]) == ("Strict", "/", False)
    assert float(str(cookie["expires"])) - time.time() == pytest.approx(12 * 3600, abs=120)

    writer = page.locator('[data-testid="stElementContainer"]:has(script[data-kc-session])')
    expect(writer).to_have_count(1)
    expect(writer).to_be_hidden()  # it takes no room on the page

    page.reload()
    _signed_in(page, MANAGER)
    _open(page, f"{app}/account")  # a bookmark
    expect(page.get_by_role("heading", name="My account")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Bo Boss")).to_be_visible()
    _signed_in(page, MANAGER)
    shot(page, "2-account")

    second = context.new_page()
    _open(second, app)
    _signed_in(second, MANAGER)
    second.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    _signed_out(second)
    _wait_for_cookie(context, present=False)
    shot(second, "4-signed-out")

    # The first tab learns it on its next run: a click, or a reload.
    _menu(page, "Ask")
    _signed_out(page)
    page.reload()
    _signed_out(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


@pytest.mark.browser
def test_two_app_processes_share_the_session(apps: tuple[str, str], context: BrowserContext) -> None:
    first_app, second_app = apps
    first = context.new_page()
    _open(first, first_app)
    _sign_in(first, MANAGER, PASSWORD)
    _signed_in(first, MANAGER)
    _wait_for_cookie(context, present=True)

    second = context.new_page()
    _open(second, second_app)  # another process, never told about this sign-in
    _signed_in(second, MANAGER)
    second.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    _signed_out(second)

    first.reload()
    _signed_out(first)
    # Signing in on the second process signs the first one in on its next load.
    _sign_in(second, MANAGER, PASSWORD)
    _signed_in(second, MANAGER)
    _wait_for_cookie(context, present=True)
    first.reload()
    _signed_in(first, MANAGER)


@pytest.mark.browser
def test_a_temporary_password_is_changed_first_and_signs_out_other_tabs(
    apps: tuple[str, str], context: BrowserContext, shot: Shot
) -> None:
    app, other_app = apps
    page = context.new_page()
    _open(page, f"{app}/documents")
    _sign_in(page, AGENT, TEMPORARY)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible(timeout=60_000)
    page.reload()  # the form again, not the sign-in, and nothing else
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
    shot(page, "3-new-password")

    temporary_cookie = _wait_for_cookie(context, present=True)
    assert temporary_cookie is not None
    elsewhere = context.new_page()  # another tab, on the other process
    _open(elsewhere, other_app)
    expect(elsewhere.get_by_role("heading", name="Choose a new password")).to_be_visible(timeout=60_000)

    page.get_by_label("Temporary password").fill(TEMPORARY)
    page.get_by_label("New password (at least 10 characters)").fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    _signed_in(page, AGENT)
    expect(page.get_by_role("heading", name="Ask the knowledge base")).to_be_visible(timeout=60_000)

    deadline = time.monotonic() + 30  # this tab writes its fresh session's token
    while (_session_cookie(context) or {}).get("value") == temporary_cookie["value"]:
        assert time.monotonic() < deadline, "the cookie still holds the revoked token"
        time.sleep(0.2)

    # The other tab's session was revoked; on a reload the browser's new cookie signs it in again.
    elsewhere.get_by_label("Temporary password").fill(TEMPORARY)
    elsewhere.get_by_label("New password (at least 10 characters)").fill("another long password")
    elsewhere.get_by_label("New password again").fill("another long password")
    elsewhere.get_by_role("button", name="Set my password").click()
    _signed_out(elsewhere)
    elsewhere.reload()
    _signed_in(elsewhere, AGENT)
    expect(elsewhere.locator('[data-testid="stException"]')).to_have_count(0)
