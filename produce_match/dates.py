"""Calendar dates in a place's own time zone (instants are stored in UTC)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from produce_match.database import utcnow

DEFAULT_TIMEZONE = "Asia/Shanghai"


def local_today(timezone: str | None = None) -> date:
    """Today's date where the lot is (Asia/Shanghai unless it says otherwise)."""
    return utcnow().astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE)).date()


def local_datetime(instant: datetime, timezone: str | None = None) -> datetime:
    return instant.astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE))


def local_instant(wall_clock: datetime, timezone: str | None = None) -> datetime:
    """A time typed without a zone (a form's date and time), read as local time where the lot is,
    as an aware UTC-convertible instant."""
    return wall_clock.replace(tzinfo=ZoneInfo(timezone or DEFAULT_TIMEZONE))
