"""The three roles and the pages each may open: one table that the router and every page read."""

from __future__ import annotations

from rag.errors import InvalidInput

AGENT = "agent"
KNOWLEDGE_MANAGER = "knowledge_manager"
MANAGER = "manager"
ROLES = (AGENT, KNOWLEDGE_MANAGER, MANAGER)
ROLE_LABELS = {AGENT: "Support agent", KNOWLEDGE_MANAGER: "Knowledge manager", MANAGER: "Manager"}

EVERYONE = ROLES
KNOWLEDGE = (KNOWLEDGE_MANAGER, MANAGER)
MANAGERS = (MANAGER,)

# Page file (relative to the repository) -> the roles that may open it.
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "pages/chat.py": EVERYONE,
    "pages/documents.py": KNOWLEDGE,
    "pages/evaluation.py": KNOWLEDGE,
    "pages/analytics_overview.py": MANAGERS,
    "pages/analytics_cost.py": MANAGERS,
    "pages/analytics_latency.py": MANAGERS,
    "pages/analytics_unanswered.py": MANAGERS,
    "pages/users.py": MANAGERS,
    "pages/audit.py": MANAGERS,
}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    return role


def may_open(role: str | None, page: str) -> bool:
    return role is not None and role in PAGE_ROLES[page]
