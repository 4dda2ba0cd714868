"""The browser's half of a session: a cookie holding only the opaque token, written by a script.

Streamlit reads cookies (`st.context.cookies`) but cannot set them, so a `<script>` set through
`st.html` (run in the page itself, not an iframe) writes `document.cookie`. The script's text
depends only on what it writes: rendered again unchanged, Streamlit does not run it again.

A cookie written by JavaScript cannot be HttpOnly; server-side revocation and expiry,
SameSite=Strict and sanitised content are what stand in for that (docs/security.md, "Sessions").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import streamlit as st

COOKIE = "kc_session"
# What secrets.token_urlsafe(32) makes; anything else in the cookie is not ours and is never
# written into a script.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_SECURE = '(location.protocol === "https:" ? "; Secure" : "")'  # as the browser sees the page
# The writer draws nothing, but its element's container would still take a gap in the layout.
_HIDDEN = "<style>[data-testid=stElementContainer]:has(script[data-kc-session]){display:none}</style>"


def is_token(value: object) -> bool:
    return isinstance(value, str) and _TOKEN.match(value) is not None


def set_script(token: str, max_age_s: int) -> str:
    """Sets the cookie to `token` for `max_age_s` seconds (again: a reload makes it last longer)."""
    if not is_token(token):
        raise ValueError("not a session token")
    cookie = json.dumps(f"{COOKIE}={token}; Path=/; Max-Age={max_age_s}; SameSite=Strict")
    return f"<script data-kc-session>document.cookie = {cookie} + {_SECURE};</script>"


def delete_script(stale: Iterable[str]) -> str:
    """Deletes the cookie only while it holds one of the `stale` tokens: another tab may have
    signed in since, and its new cookie must stay."""
    tokens = json.dumps(sorted({t for t in stale if is_token(t)}))
    expired = json.dumps(f"{COOKIE}=; Path=/; Max-Age=0; SameSite=Strict")
    prefix = json.dumps(f"{COOKIE}=")
    return (
        "<script data-kc-session>(() => {"
        f"const held = document.cookie.split('; ').find((c) => c.startsWith({prefix}));"
        f"if (held && {tokens}.includes(held.slice({prefix}.length))) "
        f"document.cookie = {expired} + {_SECURE};"
        "})();</script>"
    )


def write_cookie(script: str) -> None:
    """Renders the script where the caller is drawing; its element is hidden."""
    st.html(_HIDDEN + script, unsafe_allow_javascript=True)
