"""Calendar dates in a place's own time zone (instants are stored in UTC)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from produce_match.database import utcnow

DEFAULT_TIMEZONE = "Asia/Shanghai"

#: the calendar dates any input may name. Produce, its orders and its reports live well inside
#: these years, and a date near date.min or date.max overflows the moment a day is added to it
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)

#: read after NFKC (full-width digits are the ASCII ones), and only ASCII digits: \d would take
#: any script's digits
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$", re.ASCII)


class BadDate(ValueError):
    """Text that is not a date this service accepts; `message` says why, in the user's language."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


def parse_date(value: str | date | None) -> date | None:
    """'2026-12-01', '2026/12/1', '2026年12月1日' -> date; '' -> None; anything else, or a date
    outside EARLIEST..LATEST, -> BadDate. The one way every input's dates are read."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if not text:
            return None
        match = _DATE.match(text)
        try:
            value = date(*(int(g) for g in match.groups())) if match else None
        except ValueError:  # 2026-02-30
            value = None
        if value is None:
            raise BadDate(_l("Not a valid date (YYYY-MM-DD)."))
    if not EARLIEST <= value <= LATEST:
        raise BadDate(
            _l(
                "Choose a date between %(first)s and %(last)s.",
                first=EARLIEST.isoformat(),
                last=LATEST.isoformat(),
            )
        )
    return value


def local_today(timezone: str | None = None) -> date:
    """Today's date where the lot is (Asia/Shanghai unless it says otherwise)."""
    return utcnow().astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE)).date()


def local_datetime(instant: datetime, timezone: str | None = None) -> datetime:
    return instant.astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE))


def local_instant(wall_clock: datetime, timezone: str | None = None) -> datetime:
    """A time typed without a zone (a form's date and time), read as local time where the lot is,
    as an aware UTC-convertible instant."""
    return wall_clock.replace(tzinfo=ZoneInfo(timezone or DEFAULT_TIMEZONE))
