"""The first run is guarded by a one-time setup code from the server's log, and the app listens on
this machine only unless told otherwise."""

from __future__ import annotations

import contextlib
import hashlib
import queue
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from rag.auth.accounts import get_account
from rag.auth.setup_code import ensure_setup_code, new_setup_code
from rag.auth.throttle import SignInLimits
from rag.auth.users import TOO_MANY, WRONG_SETUP_CODE, create_first_manager
from rag.errors import InvalidInput, SignInRefused
from tests.test_access import env_for
from tests.test_auth import rag_cli
from tests.test_pages import run

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
CODE = re.compile(r"Knowledge Console setup code: ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}) ")
LIMITS = SignInLimits(address_max_failures=3)


def first_manager(
    engine: Engine, code: str, *, email: str = "boss@example.com", address: str = "10.0.0.1"
) -> str:
    return create_first_manager(
        engine, email, PASSWORD, setup_code=code, limits=LIMITS, client_address=address
    ).email


def stored(engine: Engine) -> list[tuple[str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT code_hash, expires_at > now() + interval '23 hours' FROM setup_code")
        )
        return [(h, live) for h, live in rows]


def test_one_code_at_a_time_kept_only_as_its_hash(engine: Engine) -> None:
    code = ensure_setup_code(engine)
    assert code is not None and re.fullmatch(r"[A-HJKMNP-Z2-9]{4}(-[A-HJKMNP-Z2-9]{4}){2}", code)
    assert ensure_setup_code(engine) is None  # another process, or a rerun: the code is live
    assert stored(engine) == [(hashlib.sha256(code.replace("-", "").encode()).hexdigest(), True)]
    again = new_setup_code(engine)  # the command line replaces it
    assert again != code and len(stored(engine)) == 1
    with pytest.raises(SignInRefused, match=re.escape(WRONG_SETUP_CODE)):
        first_manager(engine, code)


def test_the_first_manager_needs_the_code_and_uses_it_up(engine: Engine) -> None:
    code = new_setup_code(engine)
    for wrong in ("", "AAAA-BBBB-CCCC"):
        with pytest.raises(SignInRefused, match=re.escape(WRONG_SETUP_CODE)):
            first_manager(engine, wrong)
    assert get_account(engine, "boss@example.com") is None
    with engine.connect() as conn:
        failures = conn.execute(sa.text("SELECT client_address FROM sign_in_failures")).scalars().all()
    assert failures == ["10.0.0.1", "10.0.0.1"]
    # Typed loosely: lower case, spaces for dashes.
    assert first_manager(engine, f" {code.lower().replace('-', ' ')} ") == "boss@example.com"
    assert stored(engine) == []  # used up
    assert ensure_setup_code(engine) is None  # an account exists: no new one
    with pytest.raises(InvalidInput, match="Accounts exist already: no setup code is needed"):
        new_setup_code(engine)


def test_bad_account_details_keep_the_code(engine: Engine) -> None:
    code = new_setup_code(engine)
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        create_first_manager(
            engine, "boss@example.com", "short", setup_code=code, limits=LIMITS, client_address="a"
        )
    assert first_manager(engine, code) == "boss@example.com"


def test_an_expired_code_is_refused_and_a_new_one_issued(engine: Engine) -> None:
    code = new_setup_code(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE setup_code SET expires_at = now() - interval '1 second'"))
    with pytest.raises(SignInRefused, match=re.escape(WRONG_SETUP_CODE)):
        first_manager(engine, code)
    fresh = ensure_setup_code(engine)
    assert fresh is not None and fresh != code
    assert first_manager(engine, fresh) == "boss@example.com"


def test_wrong_codes_are_throttled_per_address(engine: Engine) -> None:
    code = new_setup_code(engine)
    for _ in range(LIMITS.address_max_failures):
        with pytest.raises(SignInRefused, match=re.escape(WRONG_SETUP_CODE)):
            first_manager(engine, "AAAA-AAAA-AAAA", address="10.6.6.6")
    with pytest.raises(SignInRefused, match=TOO_MANY):  # even the right code, from there
        first_manager(engine, code, address="10.6.6.6")
    assert first_manager(engine, code, address="10.0.0.1") == "boss@example.com"


def test_cli_prints_a_new_code(database_url: str, tmp_path: Path, engine: Engine) -> None:
    def setup_code() -> subprocess.CompletedProcess[str]:
        return rag_cli(database_url, tmp_path, "setup-code")

    first, second = setup_code(), setup_code()
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    old, new = (CODE.match(r.stdout)[1] for r in (first, second))  # type: ignore[index]
    with pytest.raises(SignInRefused):
        first_manager(engine, old)  # replaced by the second
    assert first_manager(engine, new) == "boss@example.com"
    done = setup_code()
    assert done.returncode == 2 and "Accounts exist already: no setup code is needed" in done.stderr


@pytest.fixture
def fresh_app(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[str]:
    for name, value in env_for(database_url, tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    yield database_url
    st.cache_resource.clear()


def test_first_run_form_takes_the_code_printed_in_the_log(
    fresh_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = run(AppTest.from_file(str(REPO / "app.py"), default_timeout=60))
    assert at.subheader[0].value == "Create the first manager account"
    printed = CODE.findall(capsys.readouterr().err)
    assert len(printed) == 1, "the code goes to the server's log, once"
    code_box, email, _name, password, repeat = at.text_input
    assert code_box.label == "Setup code"
    email.input("boss@example.com")
    password.input(PASSWORD)
    repeat.input(PASSWORD)
    run(at.button[0].click())  # no code
    assert [e.value for e in at.error] == [WRONG_SETUP_CODE]
    at.text_input[0].input("AAAA-BBBB-CCCC")
    run(at.button[0].click())  # a wrong one
    assert [e.value for e in at.error] == [WRONG_SETUP_CODE]
    assert [t.value for t in at.title] == ["Knowledge Console"]
    # A second visitor (or app process) while the code is live: the same code, nothing printed.
    other = run(AppTest.from_file(str(REPO / "app.py"), default_timeout=60))
    assert other.subheader[0].value == "Create the first manager account"
    assert not CODE.findall(capsys.readouterr().err)
    at.text_input[0].input(printed[0])
    run(at.button[0].click())
    assert [t.value for t in at.title] == ["Ask the knowledge base"]
    assert run(other).subheader[0].value == "Sign in"  # no second first run


def test_the_app_listens_on_this_machine_unless_told_otherwise() -> None:
    config = tomllib.loads((REPO / ".streamlit/config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    script = (REPO / "scripts/run.sh").read_text(encoding="utf-8")
    [start] = [line for line in script.splitlines() if "streamlit run" in line and not line.startswith("#")]
    # The default, overridable by APP_ADDRESS, and by a --server.address among the extra arguments
    # (streamlit takes the last one).
    assert '--server.address "${APP_ADDRESS:-127.0.0.1}" "$@"' in start


def test_the_worker_prints_the_code_when_it_starts_on_an_empty_console(
    database_url: str, tmp_path: Path, engine: Engine
) -> None:
    """scripts/run.sh starts the worker first: the code is in the terminal before anyone opens the app."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path),
           "EMBEDDING_PROVIDER": "local", "ANSWER_MODE": "offline"}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "rag", "worker"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert worker.stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in worker.stderr or ()], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not CODE.search("".join(seen)) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    [code] = CODE.findall("".join(seen)) or [""]
    assert code, "no setup code in the worker's log: " + "".join(seen)
    assert first_manager(engine, code) == "boss@example.com"
