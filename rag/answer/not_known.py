"""The fixed sentence an answer gives when the documents do not contain the answer."""

from __future__ import annotations

import re

NOT_KNOWN = "I don't know based on the documents I have."

# Models paraphrase the instruction ("I do not know...", curly apostrophes, a leading quote),
# so the check looks at how the answer starts rather than at the exact sentence.
_NOT_KNOWN_START = re.compile(r"^[\W_]*i\s+(?:do\s+not|don['’]?t)\s+know\b", re.IGNORECASE)


def is_not_known(answer: str) -> bool:
    """True if the answer says the documents do not contain it (NOT_KNOWN or a close variant)."""
    return _NOT_KNOWN_START.match(answer) is not None
