"""A person's time zone from its IANA name (as a browser reports it), for dates shown to them."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_named(name: str | None) -> tzinfo:
    """The zone called `name` ("Europe/Berlin"); UTC when there is none or it is unknown."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
