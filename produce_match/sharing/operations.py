"""The only code that writes share links, visits and attributions.

Two kinds of link code:

- a sharer's links (a logged-in user pressed 生成我的分享链接, a POST): 8 random characters,
  one row per (target, channel, sharer), made once and reused;
- the links every visitor gets (no sharer): derived from the target and channel and signed
  with the site's key (`anonymous_code`), so that pages, posters and Open Graph images can show
  them on a GET without writing anything; the row is made by the task that records the first
  visit through one.

A visit (`record_visit`) is recorded by a task, never by the GET that redirects; an order is
attributed (`attribute_order`) when it is placed from a browser that came through a link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from produce_match.accounts.models import Organisation, OrgKind, User
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.dates import local_datetime
from produce_match.demands.models import Demand
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.orders.models import Order
from produce_match.sharing.models import (
    Channel,
    ShareAttribution,
    ShareLink,
    ShareVisit,
    TargetKind,
)

#: an order is attributed to the first visit through a share link this long before it
ATTRIBUTION_WINDOW = timedelta(days=14)

#: the characters of random codes: lower case and digits, without 0/o and 1/l/i
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RANDOM_CODE_LENGTH = 8
_TAG_LENGTH = 6
_KIND_CHAR = {TargetKind.lot: "l", TargetKind.demand: "d", TargetKind.shop: "s"}
_CHAR_KIND = {v: k for k, v in _KIND_CHAR.items()}
_CHANNELS = list(Channel)
#: a derived code: the target's id in base 36, its kind, its channel's digit, the signature
_DERIVED = re.compile(r"^([0-9a-z]{1,13})([lds])([0-7])([a-z2-7]{6})$")

#: User-Agent words of crawlers, link previews and scripts: their requests are not visits
_BOTS = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|embedly|curl|wget|python-|"
    r"httpclient|okhttp|go-http|java/|libwww|scrapy|headlesschecker|monitor|pingdom",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: int


@dataclass(frozen=True)
class Resolved:
    """What a code names: a target and a channel, and the row when there is one."""

    target: Target
    channel: Channel
    code: str
    link_id: int | None


def _key(purpose: str) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode(), f"sharing:{purpose}".encode(), hashlib.sha256).digest()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _tag(body: str) -> str:
    mac = hmac.new(_key("links"), body.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().lower()[:_TAG_LENGTH]


def anonymous_code(target: Target, channel: Channel) -> str:
    """The code of the link without a sharer for `target` and `channel` (no row needed)."""
    body = f"{_base36(target.id)}{_KIND_CHAR[target.kind]}{_CHANNELS.index(channel)}"
    return body + _tag(body)


def _identity(target: Target, channel: Channel, sharer_id: int | None) -> str:
    return f"{target.kind.value}:{target.id}:{channel.value}:{sharer_id or '-'}"


def resolve(code: str) -> Resolved | None:
    """What `code` names (read only): a stored link, or a correctly signed derived code."""
    if not isinstance(code, str) or not 1 <= len(code) <= 16:
        return None
    link = db.session.scalar(select(ShareLink).where(ShareLink.code == code))
    if link is not None:
        return Resolved(Target(link.kind, link.target_id), link.channel, code, link.id)
    match = _DERIVED.match(code)
    if match is None:
        return None
    body = code[:-_TAG_LENGTH]
    if not hmac.compare_digest(_tag(body), match.group(4)):
        return None
    target = Target(_CHAR_KIND[match.group(2)], int(match.group(1), 36))
    return Resolved(target, _CHANNELS[int(match.group(3))], code, None)


def links_of(target: Target, sharer: User | None) -> dict[Channel, str] | None:
    """The codes of `sharer`'s links to `target` by channel (read only). For no sharer, the
    derived codes; for a sharer who has not made links yet, None."""
    if sharer is None:
        return {channel: anonymous_code(target, channel) for channel in Channel}
    rows = db.session.execute(
        select(ShareLink.channel, ShareLink.code).where(
            ShareLink.identity.in_([_identity(target, c, sharer.id) for c in Channel])
        )
    ).all()
    if len(rows) < len(Channel):
        return None
    return {channel: code for channel, code in rows}


def _link_values(target: Target) -> dict[str, int | None]:
    return {
        "lot_id": target.id if target.kind is TargetKind.lot else None,
        "demand_id": target.id if target.kind is TargetKind.demand else None,
        "office_id": target.id if target.kind is TargetKind.shop else None,
    }


def target_exists(target: Target) -> bool:
    """Whether the lot, demand or office a link names is there (a signed code may outlive it)."""
    model = {TargetKind.lot: Lot, TargetKind.demand: Demand, TargetKind.shop: Organisation}
    found = db.session.get(model[target.kind], target.id)
    if target.kind is TargetKind.shop:
        return found is not None and found.kind is OrgKind.office
    return found is not None


def _get_or_make(
    target: Target, channel: Channel, sharer: User | None, code: str, *, tries: int = 3
) -> tuple[ShareLink, bool]:
    identity = _identity(target, channel, sharer.id if sharer else None)
    link = db.session.scalar(select(ShareLink).where(ShareLink.identity == identity))
    if link is not None:
        return link, False
    link = ShareLink(
        code=code,
        identity=identity,
        kind=target.kind,
        channel=channel,
        sharer_id=sharer.id if sharer else None,
        **_link_values(target),
    )
    try:
        with db.session.begin_nested():  # someone else made it meanwhile: take theirs
            db.session.add(link)
    except IntegrityError:
        link = db.session.scalar(select(ShareLink).where(ShareLink.identity == identity))
        if link is None and tries > 1:  # the random code was taken (by chance): another
            return _get_or_make(target, channel, sharer, _random_code(), tries=tries - 1)
        if link is None:
            raise
        return link, False
    return link, True


def _random_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_CODE_LENGTH))


def make_links(sharer: User, target: Target) -> dict[Channel, str]:
    """`sharer`'s links to `target`, one per channel: made the first time, then the same ones.

    The caller checks that the sharer may see the target."""
    codes: dict[Channel, str] = {}
    for channel in Channel:
        link, made = _get_or_make(target, channel, sharer, _random_code())
        if made:
            record(sharer, link, "created", changes={"channel": channel.value})
        codes[channel] = link.code
    return codes


# --- visits ----------------------------------------------------------------------------------


def is_bot(user_agent: str | None) -> bool:
    """Whether a request with this User-Agent is a crawler, a link preview or a script."""
    return not user_agent or bool(_BOTS.search(user_agent))


def new_browser_id() -> str:
    """A random id for a browser's first-party cookie (it names nobody)."""
    return secrets.token_urlsafe(18)


def visitor_key(browser_id: str, day: date) -> str:
    """The browser's key for one day: a keyed hash of its cookie and the day (see ShareVisit)."""
    mac = hmac.new(_key("visits"), f"{day.isoformat()}|{browser_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def visit_day(at: datetime) -> date:
    return local_datetime(at).date()


def record_visit(code: str, visitor: str, at: datetime) -> bool:
    """Count a visit through `code` by `visitor` (its key for the day of `at`): once per link,
    visitor and day. Makes the row of a derived link at its first visit. Safe to run twice."""
    resolved = resolve(code)
    if resolved is None:
        return False
    if resolved.link_id is not None:
        link_id = resolved.link_id
    elif not target_exists(resolved.target):
        return False
    else:
        link, _made = _get_or_make(resolved.target, resolved.channel, None, code)
        link_id = link.id
    day = visit_day(at)
    seen = db.session.scalar(
        select(
            exists().where(
                ShareVisit.link_id == link_id, ShareVisit.day == day, ShareVisit.visitor == visitor
            )
        )
    )
    if seen:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(ShareVisit(link_id=link_id, day=day, visitor=visitor, at=at))
    except IntegrityError:  # the same visit, recorded meanwhile by another run
        return False
    return True


# --- attribution -----------------------------------------------------------------------------


def attribute_order(order: Order, browser_id: str, now: datetime | None = None) -> bool:
    """Attribute `order` to the first share-link visit of the browser `browser_id` within
    ATTRIBUTION_WINDOW before it, if there is one. Adds a row and nothing else."""
    now = now or utcnow()
    since = now - ATTRIBUTION_WINDOW
    first, last = visit_day(since), visit_day(now)
    keys = [
        visitor_key(browser_id, first + timedelta(days=n)) for n in range((last - first).days + 1)
    ]
    visit = db.session.execute(
        select(ShareVisit.link_id, ShareVisit.at, ShareLink.channel)
        .join(ShareLink, ShareLink.id == ShareVisit.link_id)
        .where(ShareVisit.visitor.in_(keys), ShareVisit.at >= since, ShareVisit.at <= now)
        .order_by(ShareVisit.at, ShareVisit.id)
        .limit(1)
    ).first()
    if visit is None:
        return False
    if db.session.get(ShareAttribution, order.id) is not None:
        return False
    db.session.add(
        ShareAttribution(
            order_id=order.id, link_id=visit.link_id, channel=visit.channel, visited_at=visit.at
        )
    )
    db.session.flush()
    return True
