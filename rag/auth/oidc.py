"""Whether an identity provider's claims may sign someone in: the email must be there, and vouched
for by the provider (`email_verified`), since the console knows people by their email."""

from __future__ import annotations

from collections.abc import Mapping

NO_EMAIL = "Your identity provider sent no email address, so the console cannot tell who you are."
UNVERIFIED_EMAIL = (
    "Your identity provider has not verified the email address {email}, so the console cannot sign "
    "you in with it: verify it with the provider, or ask an administrator."
)


def email_verified(claims: Mapping[str, object]) -> bool:
    """The `email_verified` claim is true (some providers send the string "true")."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def oidc_refusal(claims: Mapping[str, object], *, require_verified_email: bool) -> str | None:
    """Why these claims sign no one in, as a message for the person; None when they may."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        return NO_EMAIL
    if require_verified_email and not email_verified(claims):
        return UNVERIFIED_EMAIL.format(email=email)
    return None
