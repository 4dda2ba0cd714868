"""The first minute of a fresh process, in a real browser: the page says it is starting (or already
shows the first-run form), and never the `pages/` folder's file names as a menu, which Streamlit
shows until the router has called st.navigation once.

No timing assertions beyond "visible eventually": the machine may be busy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _offline_env, _stop, _wait_healthy

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
RAW_NAMES = ("analytics cost", "analytics overview")  # pages/analytics_cost.py ... as file names

# Records, from the first byte of the page, whether the raw file names were ever in the page,
# however briefly: a poll from the test could miss a flash.
WATCH_RAW_NAMES = """
window.__rawNamesSeen = false;
new MutationObserver(() => {
  const text = (document.body ? document.body.innerText : "").toLowerCase();
  if (NAMES.some((name) => text.includes(name))) window.__rawNamesSeen = true;
}).observe(document, {subtree: true, childList: true, characterData: true});
""".replace("NAMES", json.dumps(RAW_NAMES))


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on a fresh embedded database, offline; yields once /_stcore/health answers."""
    port = _free_port()
    env = _offline_env(tmp_path / "data")
    log = tmp_path / "streamlit.log"
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, url, log)
        yield url
        assert "Inotify" not in log.read_text(encoding="utf-8", errors="replace")  # no file watcher
    finally:
        _stop(proc)


@pytest.fixture
def watched_page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.add_init_script(WATCH_RAW_NAMES)
            yield page
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("path", ["", "documents"], ids=["home", "deep-link"])
def test_a_fresh_process_says_it_is_starting_never_the_file_names(
    fresh_app: str, watched_page: Page, path: str
) -> None:
    page = watched_page
    page.goto(f"{fresh_app}/{path}", wait_until="commit")
    starting_or_ready = page.get_by_text("Starting the console").or_(
        page.get_by_text("Create the first manager account")
    )
    expect(starting_or_ready.first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Create the first manager account")).to_be_visible(timeout=120_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-first-minute-{path or 'home'}.png"), full_page=True)
    assert page.evaluate("window.__rawNamesSeen") is False
