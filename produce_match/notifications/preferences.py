"""Who wants which notice where, and when not: groups of notices, channels, quiet hours, limits.

Every notice reaches the inbox. Beyond it, each person chooses, per group of notices (orders,
payments, brokered deals, ...), which of the personal channels (SMS, e-mail) carry it; without a
choice of their own they have the defaults of their role (`DEFAULTS`: what a cooperative must not
miss, the order and money notices, by SMS; nothing chatty). During the person's quiet hours (by
default NOTIFICATION_QUIET_HOURS, 22:00-07:00 China time) nothing is sent by SMS or e-mail: it
waits for their end. And nobody gets more than the daily limit of a channel
(NOTIFICATION_DAILY_LIMITS): beyond it a notice stays in the inbox only, its delivery recorded as
skipped for the limit.

Channels that reach no person (the `log` and `spool` channels of operators) take every notice,
at once, and are neither chosen, held nor limited.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import select

from produce_match.accounts.models import Role, User
from produce_match.audit.operations import record
from produce_match.dates import DEFAULT_TIMEZONE
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.notifications.models import NotificationSettings

#: the channels a person chooses, in the order the settings show them
PERSONAL = ("sms", "email")

CHINA = ZoneInfo(DEFAULT_TIMEZONE)


class Group(enum.StrEnum):
    orders = "orders"  #: an order's steps: placed, accepted, dispatched, delivered ...
    payments = "payments"  #: money: paid, refunded, paid out to the village
    proposals = "proposals"  #: deals an office brokers between a lot and a buyer
    alerts = "alerts"  #: lots that fit a buyer's demands (one by one, or the daily digest)
    lots = "lots"  #: one's lots at risk of spoiling, expiring
    problems = "problems"  #: the problem ledger: raised, assigned, followed up, closed
    passes = "passes"  #: transport passes: waiting, approved, rejected, revoked, overdue
    account = "account"  #: one's account and its security
    other = "other"  #: anything else

    @property
    def label(self) -> Any:
        return _LABELS[self][0]

    @property
    def description(self) -> Any:
        return _LABELS[self][1]


_LABELS = {
    Group.orders: (_l("Orders"), _l("placed, accepted, paid, dispatched, delivered, disputed")),
    Group.payments: (_l("Payments and payouts"), _l("transfers, refunds, money paid out")),
    Group.proposals: (_l("Brokered deals"), _l("an office proposes a buyer for a lot")),
    Group.alerts: (_l("Lots for your demands"), _l("new lots that fit what you buy")),
    Group.lots: (_l("Lots at risk"), _l("your lots close to spoiling or expiring")),
    Group.problems: (_l("Problem ledger"), _l("problems raised, assigned, followed up, closed")),
    Group.passes: (_l("Transport passes"), _l("passes approved, rejected, revoked, overdue")),
    Group.account: (_l("Account and security"), _l("changes to your account")),
    Group.other: (_l("Other notices"), _l("anything else")),
}

#: kinds whose group is not the one their prefix names
_GROUP_OF_KIND = {
    "match.lot_fits": Group.alerts,
    "match.digest": Group.alerts,
}
_GROUP_OF_PREFIX = {
    "order": Group.orders,
    "payment": Group.payments,
    "match": Group.proposals,
    "lot": Group.lots,
    "problem": Group.problems,
    "pass": Group.passes,
    "account": Group.account,
    "security": Group.account,
}


def group_of(kind: str) -> Group:
    """The group a kind of notice belongs to ("order.placed" -> orders)."""
    found = _GROUP_OF_KIND.get(kind)
    if found is not None:
        return found
    return _GROUP_OF_PREFIX.get(kind.partition(".")[0], Group.other)


_SMS, _EMAIL = frozenset({"sms"}), frozenset({"email"})
_BOTH, _NONE = _SMS | _EMAIL, frozenset()

#: each role's groups (those it can receive, in the order the settings show them) and the
#: channels each has by default
DEFAULTS: dict[Role, dict[Group, frozenset[str]]] = {
    Role.cooperative: {
        Group.orders: _SMS,
        Group.payments: _SMS,
        Group.proposals: _SMS,
        Group.lots: _SMS,
        Group.passes: _SMS,
        Group.problems: _NONE,
        Group.account: _BOTH,
        Group.other: _NONE,
    },
    Role.buyer: {
        Group.orders: _SMS,
        Group.payments: _EMAIL,
        Group.proposals: _SMS,
        Group.alerts: _EMAIL,
        Group.passes: _SMS,
        Group.account: _BOTH,
        Group.other: _NONE,
    },
    Role.official: {
        Group.orders: _NONE,
        Group.proposals: _EMAIL,
        Group.lots: _EMAIL,
        Group.problems: _EMAIL,
        Group.passes: _EMAIL,
        Group.account: _BOTH,
        Group.other: _NONE,
    },
    Role.haulier: {Group.passes: _SMS, Group.account: _BOTH, Group.other: _NONE},
    Role.checkpoint: {Group.account: _BOTH, Group.other: _NONE},
    Role.admin: {Group.account: _BOTH, Group.other: _NONE},
}


@dataclass(frozen=True)
class Choices:
    """One person's settings as they apply: every group of their role, quiet hours."""

    channels: Mapping[Group, frozenset[str]]
    #: (start, end) in minutes after midnight, China time; None: no quiet hours
    quiet: tuple[int, int] | None
    #: False: the role's defaults (the person never saved settings)
    own: bool = False

    def wants(self, kind: str, channel: str) -> bool:
        return channel in self.channels.get(group_of(kind), frozenset())


def groups_for(role: Role) -> list[Group]:
    return list(DEFAULTS.get(role, DEFAULTS[Role.admin]))


def default_quiet() -> tuple[int, int] | None:
    return current_app.config.get("NOTIFICATION_QUIET_HOURS")


def choices_from(user: User, row: NotificationSettings | None) -> Choices:
    """The choices that apply to `user` given their settings row (None: the defaults)."""
    defaults = DEFAULTS.get(user.role, DEFAULTS[Role.admin])
    if row is None:
        return Choices(dict(defaults), default_quiet())
    saved = row.channels or {}
    channels = {
        group: frozenset(c for c in saved[group.value] if c in PERSONAL)
        if group.value in saved
        else chosen
        for group, chosen in defaults.items()
    }
    quiet = (
        (row.quiet_start, row.quiet_end)
        if row.quiet_start is not None and row.quiet_end is not None
        else None
    )
    return Choices(channels, quiet, own=True)


def choices_of(user: User) -> Choices:
    return choices_from(user, db.session.get(NotificationSettings, user.id))


def choices_of_many(users: Iterable[User]) -> dict[int, Choices]:
    """The choices of several people at once (one query)."""
    users = list(users)
    rows = {
        row.user_id: row
        for row in db.session.scalars(
            select(NotificationSettings).where(
                NotificationSettings.user_id.in_([u.id for u in users])
            )
        )
    }
    return {user.id: choices_from(user, rows.get(user.id)) for user in users}


def save(
    actor: User,
    user: User,
    channels: Mapping[str, Iterable[str]],
    quiet: tuple[int, int] | None,
) -> Choices:
    """Keep `user`'s choices: the channels per group (groups not given keep what they had) and
    the quiet hours. Refuses unknown groups or channels, and quiet hours that start when they
    end, changing nothing."""
    errors: dict[str, list[Any]] = {}
    known = {g.value for g in groups_for(user.role)}
    for group, chosen in channels.items():
        if group not in known:
            errors[f"channels.{group}"] = [_l("Not a group of notices you receive.")]
            continue
        unknown = [c for c in chosen if c not in PERSONAL]
        if unknown:
            errors[f"channels.{group}"] = [
                _l("Not a channel: %(name)s.", name=", ".join(map(str, unknown)))
            ]
    if quiet is not None:
        start, end = quiet
        if not (0 <= start < 24 * 60 and 0 <= end < 24 * 60):
            errors["quiet_hours"] = [_l("Times of day run from 00:00 to 23:59.")]
        elif start == end:
            errors["quiet_hours"] = [_l("Quiet hours must end at another time than they start.")]
    if errors:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=errors)
    current = choices_of(user)
    merged = {g.value: sorted(c) for g, c in current.channels.items()}
    merged.update({g: sorted(set(c)) for g, c in channels.items()})
    row = db.session.get(NotificationSettings, user.id)
    if row is None:
        row = NotificationSettings(user_id=user.id)
        db.session.add(row)
    before = {"channels": dict(row.channels or {}), "quiet": [row.quiet_start, row.quiet_end]}
    row.channels = merged
    row.quiet_start, row.quiet_end = quiet if quiet is not None else (None, None)
    db.session.flush()
    after = {"channels": merged, "quiet": [row.quiet_start, row.quiet_end]}
    if before != after:
        record(actor, user, "notification_settings_changed", changes={"from": before, "to": after})
    return choices_from(user, row)


# --- quiet hours and the day's limit -------------------------------------------------------


def clock(minutes: int) -> str:
    """600 -> '10:00'."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock(text: str) -> int | None:
    """'7:00' or '07:00' -> 420; anything else -> None."""
    try:
        hours, minutes = str(text).strip().split(":")
        value = time(int(hours), int(minutes))
    except ValueError:
        return None
    return value.hour * 60 + value.minute


def quiet_until(now: datetime, quiet: tuple[int, int] | None) -> datetime | None:
    """The end of the quiet hours `now` falls in (an instant), or None if it falls in none."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(CHINA)
    minute = local.hour * 60 + local.minute
    midnight = datetime.combine(local.date(), time(0), tzinfo=CHINA)
    if start < end:  # within one day: 12:00-14:00
        inside = start <= minute < end
        ends = midnight + timedelta(minutes=end)
    else:  # across midnight: 22:00-07:00
        inside = minute >= start or minute < end
        ends = midnight + timedelta(days=1 if minute >= start else 0, minutes=end)
    if not inside:
        return None
    # a wall-clock time on the day it falls (China has no daylight saving; zoneinfo keeps it so)
    return ends.astimezone(now.tzinfo)


def day_started(now: datetime) -> datetime:
    """The start of `now`'s day in China time (what the daily limits count from)."""
    local = now.astimezone(CHINA)
    return datetime.combine(local.date(), time(0), tzinfo=CHINA).astimezone(now.tzinfo)


def daily_limit(channel: str) -> int | None:
    """How many notices one person gets through `channel` in a day (None: no limit)."""
    return current_app.config.get("NOTIFICATION_DAILY_LIMITS", {}).get(channel)


_CHANNEL_LABELS = {
    "inbox": _lp("notification channel", "Inbox"),
    "sms": _lp("notification channel", "SMS"),
    "email": _lp("notification channel", "E-mail"),
    "log": _lp("notification channel", "Log"),
    "spool": _lp("notification channel", "Spool folder"),
}


def channel_label(name: str) -> Any:
    """A channel's name for people (短信, 邮件 ...); an unknown one as it is."""
    return _CHANNEL_LABELS.get(name, name)
