"""Every page of the console, declared once: the router builds the menu from it, each page finds its
own entry to check the role, and links between pages name an entry rather than a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag.auth import EVERYONE, KNOWLEDGE, MANAGERS

Section = Literal["Support", "Knowledge", "Analytics", "Administration", "Account"]

ROOT = Path(__file__).resolve().parent.parent  # where app.py is: page files are relative to it


@dataclass(frozen=True)
class PageEntry:
    file: str  # relative to ROOT, as st.Page, st.switch_page and st.page_link take it
    title: str  # in the menu
    icon: str
    section: Section
    roles: tuple[str, ...]  # who may open it


ASK = PageEntry("pages/chat.py", "Ask", ":material/chat:", "Support", EVERYONE)
DOCUMENTS = PageEntry("pages/documents.py", "Documents", ":material/folder_open:", "Knowledge", KNOWLEDGE)
FRESHNESS = PageEntry("pages/freshness.py", "Freshness", ":material/event_repeat:", "Knowledge", KNOWLEDGE)
EVALUATE = PageEntry("pages/evaluation.py", "Evaluate", ":material/fact_check:", "Knowledge", KNOWLEDGE)
OVERVIEW = PageEntry("pages/analytics_overview.py", "Overview", ":material/insights:", "Analytics", MANAGERS)
COST = PageEntry("pages/analytics_cost.py", "Cost", ":material/payments:", "Analytics", MANAGERS)
LATENCY = PageEntry("pages/analytics_latency.py", "Latency", ":material/speed:", "Analytics", MANAGERS)
UNANSWERED = PageEntry(
    "pages/analytics_unanswered.py", "Unanswered", ":material/help:", "Analytics", KNOWLEDGE
)
USERS = PageEntry("pages/users.py", "Users", ":material/group:", "Administration", MANAGERS)
AUDIT = PageEntry("pages/audit.py", "Audit log", ":material/history:", "Administration", MANAGERS)
ACCOUNT = PageEntry("pages/account.py", "My account", ":material/account_circle:", "Account", EVERYONE)

PAGES = (
    ASK,
    DOCUMENTS,
    FRESHNESS,
    EVALUATE,
    OVERVIEW,
    COST,
    LATENCY,
    UNANSWERED,
    USERS,
    AUDIT,
    ACCOUNT,
)  # menu order
HOME = ASK  # where everyone lands after signing in or out

_BY_PATH = {ROOT / page.file: page for page in PAGES}


def page_for(file: str) -> PageEntry:
    """The entry of a page file; a page passes its own `__file__`."""
    page = _BY_PATH.get(Path(file).resolve())
    if page is None:
        raise ValueError(f"{file} is not a registered page")
    return page


def may_open(role: str | None, page: PageEntry) -> bool:
    return role is not None and role in page.roles
