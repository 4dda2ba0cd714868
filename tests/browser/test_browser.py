"""The console in a real browser: the first manager account, upload a Markdown file, leave the page
while a worker ingests it, ask about it and get a cited answer; then each role signs in and sees
only its pages.

Starts `streamlit run app.py` and an ingestion worker (`python -m rag worker`), as the first README
command does, offline on a fresh embedded database, and drives the app with headless Chromium
(Debian's /usr/bin/chromium) through Playwright, the way a person would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def shown(text: str) -> re.Pattern[str]:
    """`text` as the page shows other people's text: escape_markdown may put invisible word joiners
    (U+2060) inside it, so that an email or a URL is not made into a link."""
    return re.compile("\u2060?".join(re.escape(c) for c in text))


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 90
SLOW_MS = 120_000  # the embedding model loads on the first ingest

DOCUMENT = """# Returns policy

Customers can return most items within 30 days of delivery.
Opened headphones can be returned within 14 days for a full refund.
Refunds are paid to the original payment method within five business days.
"""
QUESTION = "How long do customers have to return opened headphones?"
MANAGER = "boss@example.com"
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _offline_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for an app or worker process: offline (no OpenAI key, local embeddings) on the
    embedded database unless `extra` names one, with built-in sign-in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "DATABASE_URL", "ANSWER_MODE", "EMBEDDING_PROVIDER")
    }
    env.update(DATA_DIR=str(data_dir), AUTH_MODE="builtin", **extra)
    return env


def _output(proc: subprocess.Popen[bytes], log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Returns once the app at `url` answers /_stcore/health; fails the test, with the end of its
    log, if it exits first or is not healthy within STARTUP_TIMEOUT_S."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{_output(proc, log)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"streamlit not healthy after {STARTUP_TIMEOUT_S} s:\n{_output(proc, log)}")
        time.sleep(0.2)


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """A running console on a free local port, offline, with a fresh embedded database."""
    port = _free_port()
    env = _offline_env(tmp_path / "data")
    log = tmp_path / "streamlit.log"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    with (tmp_path / "worker.log").open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "rag", "worker"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, url, log)
        yield url
    finally:
        _stop(proc)
        _stop(worker)


@pytest.fixture
def page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            yield context.new_page()
        finally:
            browser.close()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


@pytest.mark.browser
def test_upload_then_ask_gets_a_cited_answer(app_url: str, page: Page, tmp_path: Path) -> None:
    document = tmp_path / "returns.md"
    document.write_text(DOCUMENT, encoding="utf-8")

    page.goto(app_url)
    expect(page.locator('[data-testid="stApp"]')).to_be_visible(timeout=60_000)
    _first_manager(page, tmp_path)
    expect(page.get_by_role("heading", name="Ask the knowledge base")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("The library is empty")).to_be_visible(timeout=30_000)

    # Documents: upload the file and index it.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Library (0 documents)")).to_be_visible(timeout=30_000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(document))
    expect(page.locator('[data-testid="stFileUploader"]')).to_contain_text("returns.md", timeout=30_000)
    _shot(page, "1-documents")
    page.get_by_role("button", name="Upload and index").click()
    expect(page.get_by_text("Queued 1 file")).to_be_visible(timeout=30_000)

    # Leave at once: the worker ingests the file whatever the page does; back on Documents, the
    # jobs panel shows how it ended.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Ask").click()
    expect(page.get_by_role("heading", name="Ask the knowledge base")).to_be_visible(timeout=30_000)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Library (1 document)", exact=True)).to_be_visible(timeout=SLOW_MS)
    jobs = page.locator('[data-testid="stDataFrame"]').filter(has_text="returns.md").first
    expect(jobs).to_contain_text("Ingested", timeout=30_000)
    library = page.locator('[data-testid="stDataFrame"]').filter(has_text="Returns policy").first
    expect(library).to_contain_text("returns.md", timeout=30_000)
    expect(library).to_contain_text("Returns policy")
    expect(library).to_contain_text(MANAGER)
    _shot(page, "2-ingested")

    # Ask: the answer quotes the fact, cites it, and names the document under "Sources".
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Ask").click()
    expect(page.get_by_role("heading", name="Ask the knowledge base")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("The library is empty")).to_have_count(0, timeout=30_000)
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.fill(QUESTION)
    box.press("Enter")

    messages = page.locator('[data-testid="stChatMessage"]')
    expect(messages.first).to_contain_text(QUESTION, timeout=30_000)
    answer = messages.nth(1)
    expect(answer).to_contain_text("14 days", timeout=SLOW_MS)
    expect(answer).to_contain_text("[1]")
    expect(answer.get_by_text("Sources", exact=True)).to_be_visible(timeout=30_000)
    expect(answer).to_contain_text("[1] Returns policy")
    expect(answer).to_contain_text("score 0.")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    _shot(page, "3-answer")

    # In a new conversation, a question the library cannot answer; then every analytics page shows
    # its charts.
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator('[data-testid="stChatMessage"]')).to_have_count(0, timeout=30_000)
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.fill("What is the colour of the office carpet in Lisbon?")
    box.press("Enter")
    expect(page.locator('[data-testid="stChatMessage"]').nth(1)).to_contain_text(
        "I don't know", timeout=SLOW_MS
    )
    # The page reruns once more after an answer (to draw its feedback buttons): let it settle, or a
    # click on the menu can land in that rerun and be lost.
    expect(page.get_by_role("radiogroup", name="Feedback rating").last).to_be_visible(timeout=30_000)
    # One free day: calls and tokens on the Cost page (no dollar axis); where the time goes on Latency.
    for title, charts in (("Overview", 1), ("Cost", 2), ("Latency", 2)):
        _open_page(page, title)
        expect(page.locator(".js-plotly-plot").nth(charts - 1)).to_be_visible(timeout=30_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        _shot(page, f"4-analytics-{title.lower()}")
    _open_page(page, "Unanswered")
    expect(page.get_by_text("Unanswered questions", exact=True)).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    _shot(page, "5-unanswered")


def _open_page(page: Page, title: str) -> None:
    """Follow a menu link and wait until the address is that page's (a click is tried again if a
    rerun swallowed it: that is the browser's timing, not the app's behaviour under test)."""
    link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title)
    target = link.get_attribute("href") or ""
    for _ in range(3):
        link.click()
        try:
            page.wait_for_url(target, timeout=10_000)
            return
        except PlaywrightTimeout:
            continue
    expect(page).to_have_url(target)


def _first_manager(page: Page, logs: Path) -> None:
    """A fresh install asks for the setup code from the server's log and the first manager account,
    and signs it in. The code is printed once, by whichever process made it: the worker at its start,
    or the app when it shows the form (scripts/run.sh sends both to one terminal)."""
    expect(page.get_by_text("Create the first manager account")).to_be_visible(timeout=60_000)
    printed = "".join(
        log.read_text(encoding="utf-8") for log in (logs / "worker.log", logs / "streamlit.log")
    )
    [code] = re.findall(r"Knowledge Console setup code: (\S+) ", printed)
    page.get_by_label("Setup code").fill(code)
    page.get_by_label("Email").fill(MANAGER)
    page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()


def _sign_in(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(shown(f"Signed in: {email}"))).to_be_visible(timeout=30_000)


def _choose_password(page: Page, temporary: str, new: str) -> None:
    """A temporary password (set by a manager) is changed before anything else."""
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible(timeout=30_000)
    page.get_by_label("Temporary password").fill(temporary)
    page.get_by_label("New password (at least 10 characters)").fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Set my password").click()


def _sign_out(page: Page) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)


def _add_person(page: Page, email: str, role_label: str) -> str:
    """Adds an account on the Users page; returns the temporary password shown once."""
    form = page.locator('[data-testid="stForm"]').filter(has_text="Add a person")
    form.get_by_label("Email").fill(email)
    option = page.get_by_role("option", name=role_label)
    for _ in range(3):  # a rerun that lands while the list opens closes it again: open it once more
        form.locator('[data-testid="stSelectbox"]').first.click()
        try:
            expect(option).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
    option.click()
    form.get_by_role("button", name="Add").click()
    notice = page.get_by_text(shown(f"Added {email}"))
    expect(notice).to_be_visible(timeout=30_000)
    return notice.inner_text().rsplit(":", 1)[1].strip().strip("`")


NAV_TITLES = [
    "Ask",
    "Documents",
    "Freshness",
    "Evaluate",
    "Overview",
    "Cost",
    "Latency",
    "Unanswered",
    "Users",
    "Audit log",
    "My account",
]
ROLE_PAGES = {
    "agent": {"Ask", "My account"},
    "knowledge_manager": {"Ask", "Documents", "Freshness", "Evaluate", "Unanswered", "My account"},
    "manager": set(NAV_TITLES),
}


def _wait_for_the_run(page: Page) -> None:
    """Until the page's script has finished drawing (Streamlit marks its app element) and stays so."""
    finished = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    for _ in range(2):  # a page may rerun itself once (a cookie, a redirect): wait for that too
        page.wait_for_selector(finished, timeout=60_000)
        page.wait_for_timeout(700)


def _shoot_every_page(page: Page, role: str) -> None:
    """Open each page of the role's menu and save how it looks: test-artifacts/pages/<role>-<page>.png."""
    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    nav = page.locator('[data-testid="stSidebarNav"]')
    heading = page.locator("h1").first
    for title in [t for t in NAV_TITLES if t in ROLE_PAGES[role]]:
        before = heading.inner_text() if heading.count() else ""
        nav.get_by_role("link", name=title, exact=True).click()
        if not (title == "Ask" and before.startswith("Ask")):  # already there: nothing changes
            expect(heading).not_to_have_text(before, timeout=30_000)  # every page has its own title
        _wait_for_the_run(page)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        name = title.lower().replace(" ", "-")
        page.screenshot(path=str(folder / f"{role}-{name}.png"), full_page=True)
    nav.get_by_role("link", name="Ask", exact=True).click()
    expect(page.locator('[data-testid="stChatInput"]')).to_be_visible(timeout=30_000)


def _nav_titles(page: Page) -> set[str]:
    nav = page.locator('[data-testid="stSidebarNav"]')
    return {t for t in NAV_TITLES if nav.get_by_role("link", name=t, exact=True).count()}


@pytest.mark.browser
def test_each_role_sees_only_its_pages(app_url: str, page: Page, tmp_path: Path) -> None:
    # A deep link on a freshly started app, before anyone has signed in: nothing of the page.
    page.goto(f"{app_url}/documents")
    expect(page.get_by_text("Create the first manager account")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Library (")).to_have_count(0)
    expect(page.locator('[data-testid="stFileUploader"]')).to_have_count(0)
    _first_manager(page, tmp_path)
    # Once signed in, the page hands over to the router: the navigation built for the role.
    expect(page.get_by_text(shown(f"Signed in: {MANAGER}"))).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Users")).to_be_visible(
        timeout=30_000
    )
    assert _nav_titles(page) == ROLE_PAGES["manager"]

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible(timeout=30_000)
    passwords = {
        "agent": _add_person(page, "agent@example.com", "Support agent"),
        "knowledge_manager": _add_person(page, "km@example.com", "Knowledge manager"),
    }
    _shot(page, "6-users")
    _shoot_every_page(page, "manager")
    _sign_out(page)

    for role, email in (("agent", "agent@example.com"), ("knowledge_manager", "km@example.com")):
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(passwords[role])
        page.get_by_role("button", name="Sign in").click()
        _choose_password(page, passwords[role], PASSWORD)
        expect(page.get_by_text(shown(f"Signed in: {email}"))).to_be_visible(timeout=30_000)
        expect(page.get_by_role("heading", name="Ask the knowledge base")).to_be_visible(timeout=30_000)
        expect(page.locator('[data-testid="stChatInput"]')).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Sign in")).to_have_count(0, timeout=30_000)
        assert _nav_titles(page) <= ROLE_PAGES[role]
        if len(ROLE_PAGES[role]) > 1:
            assert _nav_titles(page) == ROLE_PAGES[role]
        _shot(page, f"7-{role}")
        _shoot_every_page(page, role)
        _sign_out(page)

    # A deep link to a manager's page, signed in as an agent: the page never draws.
    page.goto(f"{app_url}/users")
    _sign_in(page, "agent@example.com", PASSWORD)
    # The router refuses it before the page runs (the page's own check would say "Your role...").
    expect(page.get_by_text("This page is not in your menu")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_have_count(0)
    expect(page.get_by_text("People (")).to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    _shot(page, "8-agent-deep-link")
