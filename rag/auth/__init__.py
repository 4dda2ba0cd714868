"""People and roles: accounts, password hashes, sessions, the roles and their groups, the audit log.

In: an email and a password (or an identity provider's claims), a session token from a browser's
cookie, a manager's administrative action.
Out: an `Account` with its role, a session token, or `SignInRefused`; every administrative action
in the audit log.
"""

from rag.auth.accounts import Account, get_account, list_accounts, user_count
from rag.auth.audit import AuditRecord, audit_entries, record_action
from rag.auth.oidc import oidc_refusal
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
from rag.auth.sessions import (
    open_session,
    revoke_account_sessions,
    revoke_session,
    session_account,
)
from rag.auth.setup_code import announce_setup_code, ensure_setup_code, new_setup_code, setup_code_message
from rag.auth.throttle import SignInLimits
from rag.auth.users import (
    add_user,
    change_own_password,
    change_role,
    create_first_manager,
    set_active,
    set_password,
    sign_in,
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
    "SignInLimits",
    "add_user",
    "announce_setup_code",
    "audit_entries",
    "change_own_password",
    "change_role",
    "check_role",
    "create_first_manager",
    "ensure_setup_code",
    "get_account",
    "list_accounts",
    "new_setup_code",
    "oidc_refusal",
    "open_session",
    "record_action",
    "revoke_account_sessions",
    "revoke_session",
    "session_account",
    "set_active",
    "set_password",
    "setup_code_message",
    "sign_in",
    "user_count",
]
