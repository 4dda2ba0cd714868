"""Password hashes: Argon2id (memory-hard), in the self-describing PHC string format."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rag.errors import InvalidInput

MIN_LENGTH = 10
# argon2-cffi's defaults (RFC 9106's low-memory profile): 64 MiB, 3 passes, 4 lanes.
_hasher = PasswordHasher()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_LENGTH} characters.")


def hash_password(password: str) -> str:
    """An `$argon2id$...` string with its own salt and parameters; the password is not in it."""
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# Verified when an email is unknown, so a wrong address costs as long as a wrong password.
DUMMY_HASH = _hasher.hash("not a password of anyone")
