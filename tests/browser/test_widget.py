"""The web widget in a real browser: one script tag on a page of another origin (so CORS is real)
opens a chat box that streams an answer from the API, links each [n] to its source, keeps what the
documents say inert, and says clearly when the page's key is wrong.

The API runs in this process on uvicorn (as in tests/test_api.py); the host page is served by
`http.server` on another port; Debian's Chromium drives it through Playwright.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Dialog, Error, Locator, Page, expect, sync_playwright

from rag.auth import add_user
from rag.auth.api_keys import create_api_key
from rag.console import Console
from rag.ingest.pipeline import ingest_file
from rag.providers.extractive import ExtractiveGenerator
from rag.providers.generator import AnswerRequest, Generation
from tests.api_server import serving_api
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import ConsoleFactory
from tests.fakes import HashEmbedder

RETURNS = (
    b"# Returns\n\nOpened headphones can be returned within 14 days of delivery. "
    b"Refunds reach the original payment method within 5-10 business days."
)
HOSTILE = (
    b"# Visitor parking\n\nVisitor parking passes [click](http://evil.example) are collected at the "
    b"front desk <img src=x onerror=alert(1)> before nine in the morning."
)
QUESTION = "How long can opened headphones be returned?"
HOSTILE_QUESTION = "Where are visitor parking passes collected?"
OWNER = "agent@example.com"
TITLE = "Ask the handbook"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Intranet</title>
<style>body {{ font: 20px Georgia, serif; color: #a00; }} div, p, a {{ color: #0a0 !important; }}</style>
</head><body><h1>Team intranet</h1><p>Internal news and links.</p>
<script src="{api}/widget.js" data-key="{key}" data-title="{title}" defer></script>
</body></html>
"""
SHOT = Path("/tmp/widget-screenshot.png")


@dataclass
class Site:
    console: Console
    api: str
    page: str  # the host page with the right key
    wrong_key_page: str


class PacedGenerator:
    """The offline answerer, its words sent a little apart, so the browser sees the text grow."""

    mode, model = "offline", "extractive"

    def __init__(self, inner: ExtractiveGenerator, pause_s: float = 0.05) -> None:
        self.inner, self.pause_s = inner, pause_s

    def generate(self, request: AnswerRequest) -> Generation:
        made = self.inner.generate(request)

        def paced() -> Iterator[str]:
            for delta in made:
                time.sleep(self.pause_s)
                yield delta

        generation = Generation(paced(), model=made.model, usage=made.usage)
        generation.calls.extend(made.calls)
        return generation


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(make_console: ConsoleFactory, tmp_path: Path) -> Iterator[Site]:
    embedder = HashEmbedder(dims=1024)
    console = make_console(
        embedder=embedder,
        generator=PacedGenerator(ExtractiveGenerator(embedder=embedder)),
        MIN_RELEVANCE="0.2",
        MAX_QUESTIONS_PER_MINUTE="3",
    )
    assert ingest_file(console, "returns.md", RETURNS, user="km").ok
    assert ingest_file(console, "parking.md", HOSTILE, user="km").ok
    add_user(console.engine, OWNER, "agent", actor="test")
    key, _ = create_api_key(
        console.engine, name="intranet widget", owner=OWNER, knowledge_base=console.kb.name, actor="test"
    )
    with serving_api(console) as api:
        pages = tmp_path / "site"
        pages.mkdir()
        (pages / "index.html").write_text(PAGE.format(api=api, key=key, title=TITLE), encoding="utf-8")
        (pages / "wrong.html").write_text(PAGE.format(api=api, key="kc_wrong", title=TITLE), encoding="utf-8")
        host = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(pages)))
        threading.Thread(target=host.serve_forever, daemon=True).start()
        origin = f"http://127.0.0.1:{host.server_address[1]}"
        try:
            yield Site(console, api, f"{origin}/index.html", f"{origin}/wrong.html")
        finally:
            host.shutdown()
            host.server_close()


@pytest.fixture
def page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
        finally:
            browser.close()


def _watch(page: Page) -> list[str]:
    """Dialogs (dismissed) and uncaught script errors: a hostile document must cause neither."""
    seen: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        seen.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_error(error: Error) -> None:
        seen.append(f"script error: {error}")

    page.on("dialog", on_dialog)
    page.on("pageerror", on_error)
    return seen


def _ask(page: Page, question: str) -> Locator:
    """Types the question into the open widget and returns the answer's bubble once it is final."""
    box = page.get_by_role("textbox", name="Your question")
    before = page.locator(".msg.bot").count()
    box.fill(question)
    box.press("Enter")
    answer = page.locator(".msg.bot").nth(before)
    expect(answer).to_have_class("msg bot", timeout=30_000)  # no longer "streaming"
    return answer


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name=f"Open chat: {TITLE}").click()
    expect(page.get_by_role("dialog", name=TITLE)).to_be_visible()
    expect(page.get_by_role("textbox", name="Your question")).to_be_focused()


@pytest.mark.browser
def test_the_widget_streams_a_cited_answer_on_another_origin(site: Site, page: Page, tmp_path: Path) -> None:
    trouble = _watch(page)
    _open(page, site.page)
    assert not page.url.startswith(site.api)  # another origin: the calls are cross-origin

    box = page.get_by_role("textbox", name="Your question")
    box.fill(QUESTION)
    box.press("Enter")
    # The text shows as it streams, before the sources (and the links to them) arrive.
    streaming = page.locator(".msg.bot.streaming")
    expect(streaming).to_contain_text("Opened headphones", timeout=30_000)
    assert streaming.get_by_role("link").count() == 0
    answer = page.locator(".msg.bot").first
    expect(answer).to_have_class("msg bot", timeout=30_000)
    expect(answer).to_contain_text("14 days")
    citation = answer.get_by_role("link", name="[1]").first
    href = citation.get_attribute("href") or ""
    assert href.startswith("#kc-source-") and href.endswith("-1")
    source = answer.locator(href)  # the anchor's target is in the widget's shadow root
    expect(source).to_contain_text("[1] Returns")
    expect(source).to_contain_text("cited")
    expect(source).to_contain_text("Opened headphones can be returned")
    citation.click()
    expect(source).to_have_class("cited target")
    expect(source).to_be_in_viewport()
    assert page.url.endswith("/index.html")  # the jump stays inside the widget
    # The host page's styles stop at the shadow root.
    assert answer.evaluate("e => getComputedStyle(e).fontFamily").startswith("system-ui")
    page.screenshot(path=str(tmp_path / "widget-answer.png"))
    shutil.copy(tmp_path / "widget-answer.png", SHOT)

    # A follow-up continues the same conversation.
    _ask(page, "And the refunds?")
    with site.console.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT user_name, conversation_id FROM answers ORDER BY id")).all()
    assert [r.user_name for r in rows] == ["key:intranet widget"] * 2
    assert rows[0].conversation_id == rows[1].conversation_id

    # A new conversation, and a question the documents do not answer.
    page.get_by_role("button", name="Start a new conversation").click()
    expect(page.locator(".msg")).to_have_count(0)
    unanswered = _ask(page, "What colour is the office carpet in Lisbon?")
    expect(unanswered).to_contain_text("I don't know")
    expect(unanswered).to_contain_text("The documents do not answer this.")
    # The fourth question in a minute is over the key's limit (MAX_QUESTIONS_PER_MINUTE=3).
    page.get_by_role("textbox", name="Your question").fill(QUESTION)
    page.get_by_role("textbox", name="Your question").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("3 questions in the last minute", timeout=30_000)
    page.screenshot(path=str(tmp_path / "widget-unanswered-and-limit.png"))
    assert trouble == []


@pytest.mark.browser
def test_what_the_documents_say_stays_inert(site: Site, page: Page, tmp_path: Path) -> None:
    trouble = _watch(page)
    _open(page, site.page)
    answer = _ask(page, HOSTILE_QUESTION)
    expect(answer).to_contain_text("front desk")
    # The markup and the link arrived, as text: visible, never an element.
    expect(answer).to_contain_text("<img src=x onerror=alert(1)>")
    expect(answer).to_contain_text("[click](http://evil.example)")
    expect(page.locator("img")).to_have_count(0)
    expect(page.locator("[onerror]")).to_have_count(0)
    expect(page.locator('a[href*="evil"]')).to_have_count(0)
    hrefs = page.locator(".msg a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith("#kc-source-") for h in hrefs)
    page.wait_for_timeout(300)  # time for an onerror to have fired, had an image been made
    page.screenshot(path=str(tmp_path / "widget-hostile.png"))
    assert trouble == []


@pytest.mark.browser
def test_errors_are_said_in_the_panel(site: Site, page: Page, tmp_path: Path) -> None:
    trouble = _watch(page)
    _open(page, site.wrong_key_page)
    box = page.get_by_role("textbox", name="Your question")
    box.fill(QUESTION)
    box.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("This page's key is not valid", timeout=30_000)
    expect(page.locator(".msg.bot")).to_have_count(0)
    expect(box).to_be_enabled()
    page.screenshot(path=str(tmp_path / "widget-wrong-key.png"))

    # The service unreachable once the page has loaded.
    _open(page, site.page)
    page.route("**/v1/chat*", lambda route: route.abort())
    page.get_by_role("textbox", name="Your question").fill(QUESTION)
    page.get_by_role("textbox", name="Your question").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Could not reach the knowledge service", timeout=30_000)

    # Escape closes the panel and gives focus back to its button.
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name=TITLE)).to_be_hidden()
    expect(page.get_by_role("button", name=f"Open chat: {TITLE}")).to_be_focused()
    assert trouble == []
