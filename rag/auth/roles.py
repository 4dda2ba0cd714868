"""The three roles, their labels and the groups of roles that pages and actions are open to."""

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


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    return role
