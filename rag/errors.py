"""The console's own exceptions: each carries a message meant for the person using it."""

from __future__ import annotations


class ConsoleError(Exception):
    """An error the user can act on; its message is safe to show in the UI."""


class ConfigError(ConsoleError):
    """A setting is missing, malformed or inconsistent."""


class RejectedFile(ConsoleError):
    """An uploaded file cannot be ingested; the message says why."""


class QuestionRejected(ConsoleError):
    """A question cannot be asked as it is (empty, too long)."""


class EmbeddingModelMismatch(ConsoleError):
    """The knowledge base was built with another embedding model than the one configured."""


class DatabaseUnavailable(ConsoleError):
    """PostgreSQL cannot be reached or set up."""


class ModelError(ConsoleError):
    """A model API call failed; `code` is a short machine-readable reason."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class LimitReached(ConsoleError):
    """A user has asked as many questions or used as many tokens as a per-user limit allows."""


class InvalidInput(ConsoleError):
    """A value typed by a person is not acceptable (a short password, an unknown role...)."""


class SignInRefused(ConsoleError):
    """A refused sign-in or password check: one message for every reason a guesser could learn
    from (rag/auth/users.py); a deactivated account is told so only after the right password."""
