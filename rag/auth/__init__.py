"""People and roles: accounts, password hashes, the roles and their groups, the audit log.

In: an email and a password (or an identity provider's claims), a manager's administrative action.
Out: an `Account` with its role, or `SignInRefused`; every administrative action in the audit log.
"""

from rag.auth.audit import AuditRecord, audit_entries, record_action
from rag.auth.roles import (
    AGENT,
    EVERYONE,
    KNOWLEDGE,
    KNOWLEDGE_MANAGER,
    MANAGER,
    MANAGERS,
    ROLE_LABELS,
    ROLES,
    check_role,
)
from rag.auth.users import (
    Account,
    add_user,
    change_role,
    create_first_manager,
    get_account,
    list_accounts,
    set_active,
    set_password,
    sign_in,
    user_count,
)

__all__ = [
    "AGENT",
    "EVERYONE",
    "KNOWLEDGE",
    "KNOWLEDGE_MANAGER",
    "MANAGER",
    "MANAGERS",
    "ROLES",
    "ROLE_LABELS",
    "Account",
    "AuditRecord",
    "add_user",
    "audit_entries",
    "change_role",
    "check_role",
    "create_first_manager",
    "get_account",
    "list_accounts",
    "record_action",
    "set_active",
    "set_password",
    "sign_in",
    "user_count",
]
