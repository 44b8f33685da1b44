"""Share links, the visits through them, and the orders they brought (attribution)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from produce_match.database import utcnow
from produce_match.extensions import db


class Channel(enum.StrEnum):
    wechat_group = "wechat_group"  #: a WeChat group (微信群)
    moments = "moments"  #: WeChat Moments (朋友圈)
    douyin = "douyin"  #: Douyin (抖音)
    kuaishou = "kuaishou"  #: Kuaishou (快手)
    weibo = "weibo"  #: Weibo (微博)
    sms = "sms"  #: a text message (短信)
    print = "print"  #: paper: market boards, village notice boards (打印)
    other = "other"  #: anything else (其他)

    @property
    def label(self) -> str:
        return str(CHANNEL_LABELS[self])

    @property
    def tall(self) -> bool:
        """Whether its poster is 9:16 (short-video apps), else 3:4."""
        return self in (Channel.douyin, Channel.kuaishou)


CHANNEL_LABELS = {
    Channel.wechat_group: _l("WeChat group"),
    Channel.moments: _l("Moments"),
    Channel.douyin: _l("Douyin"),
    Channel.kuaishou: _l("Kuaishou"),
    Channel.weibo: _l("Weibo"),
    Channel.sms: _l("Text message"),
    Channel.print: _l("Print"),
    Channel.other: _l("Other"),
}


class TargetKind(enum.StrEnum):
    lot = "lot"  #: a lot's page, /lots/<id>
    demand = "demand"  #: a buyer's demand, /demands/<id>
    shop = "shop"  #: an office's county shop, /shops/<office id>


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=20, validate_strings=True)


class ShareLink(db.Model):
    """One short link, /s/<code>: a target, a channel, and who shared it (None: a visitor).

    One row per (target, channel, sharer), reused by every share: `identity` spells that
    triple and is unique, so two requests making the same link at once make one row.
    """

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    identity: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[TargetKind] = mapped_column(_enum(TargetKind, "share_target_kind"))
    lot_id: Mapped[int | None] = mapped_column(
        ForeignKey("lots.id", ondelete="CASCADE"), index=True
    )
    demand_id: Mapped[int | None] = mapped_column(
        ForeignKey("demands.id", ondelete="CASCADE"), index=True
    )
    #: a county shop: the office whose shop it is
    office_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "share_channel"))
    sharer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def target_id(self) -> int:
        return {
            TargetKind.lot: self.lot_id,
            TargetKind.demand: self.demand_id,
            TargetKind.shop: self.office_id,
        }[self.kind]


class ShareVisit(db.Model):
    """A browser came through a link: once per link, browser and day (the visitor's local day).

    `visitor` is a keyed hash of the browser's random first-party cookie and the day, so visits
    of one browser on different days cannot be linked without the cookie itself; no address,
    agent or account is stored.
    """

    __tablename__ = "share_visits"
    __table_args__ = (
        UniqueConstraint("link_id", "day", "visitor", name="uq_share_visits_link_day_visitor"),
        Index("ix_share_visits_visitor_at", "visitor", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"))
    day: Mapped[date]
    visitor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ShareAttribution(db.Model):
    """An order brought by a share link: the browser's first visit within the window before it."""

    __tablename__ = "share_attributions"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    link_id: Mapped[int] = mapped_column(
        ForeignKey("share_links.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "share_channel"))
    visited_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
