from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    and_,
    false,
    or_,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation
from produce_match.catalog.models import Commodity, HasPlace, Region
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.lots.rules import meets_minimum
from produce_match.units import MassUnit


class LotStatus(enum.StrEnum):
    open = "open"  #: on offer, with quantity left and time before spoiling
    sold_out = "sold_out"  #: everything is committed to orders
    expired = "expired"  #: the spoil-by date has passed; nothing can be ordered any more
    withdrawn = "withdrawn"  #: taken off the market by its cooperative


class Settlement(enum.StrEnum):
    """When the cooperative is paid for an order (offered by the lot, chosen by the buyer)."""

    #: today's escrow: the money is held until delivery is confirmed and the dispute window
    #: has closed
    on_delivery = "on_delivery"
    #: 款到发货，装车结算: the buyer pays before loading; when the cooperative records the
    #: loading (photos, weighbridge weight) the village is paid that day, less a holdback
    on_loading = "on_loading"

    @property
    def label(self) -> Any:
        return _SETTLEMENT_LABELS[self]


_SETTLEMENT_LABELS = {
    Settlement.on_delivery: _l("paid on delivery"),
    Settlement.on_loading: _l("paid on loading"),
}
#: the holdback a lot settled on loading may keep until delivery, in whole percent
MAX_HOLDBACK_PCT = 10
#: the holdback a new offer of settlement on loading keeps when none is given
DEFAULT_HOLDBACK_PCT = 5


class LotAction(enum.StrEnum):
    sell_out = "sell_out"  #: an order took the last of it (the stock statement, see orders)
    reopen = "reopen"  #: an order gave quantity back to a sold-out lot still in date
    expire = "expire"  #: its spoil-by date passed (the timer, or quantity given back too late)
    withdraw = "withdraw"  #: its cooperative took it off the market


#: THE transition table of lots: (from, action) -> to. Edits of quantity and spoil-by date set
#: the status the lot's figures imply (`lots.operations`), recorded as an edit, not a move.
LOT_TRANSITIONS: dict[tuple[LotStatus, LotAction], LotStatus] = {
    (LotStatus.open, LotAction.sell_out): LotStatus.sold_out,
    (LotStatus.sold_out, LotAction.reopen): LotStatus.open,
    (LotStatus.open, LotAction.expire): LotStatus.expired,
    (LotStatus.sold_out, LotAction.expire): LotStatus.expired,
    (LotStatus.open, LotAction.withdraw): LotStatus.withdrawn,
    (LotStatus.sold_out, LotAction.withdraw): LotStatus.withdrawn,
    (LotStatus.expired, LotAction.withdraw): LotStatus.withdrawn,
}
LOTS: Lifecycle[LotStatus, LotAction] = Lifecycle(
    "lots",
    LotStatus,
    LotAction,
    LOT_TRANSITIONS,
    verbs={
        LotAction.sell_out: "sold_out",
        LotAction.reopen: "reopened",
        LotAction.expire: "expired",
        LotAction.withdraw: "withdrawn",
    },
)
#: the states in which a lot may sell: those from which an order can take the last of it
SELLABLE = LOTS.sources(LotAction.sell_out)


def can_sell(lot: Lot, grams: int | None = None, *, today: date | None = None) -> bool:
    """THE rule for what a lot can sell: a sellable status, not past its spoil-by date (where
    the lot is), something left, and (given `grams`) that much left and allowed as an order.

    `today`: the lot's `today()`, when the caller already has it (many lots at once)."""
    today = today or lot.today()
    if lot.status not in SELLABLE or lot.spoil_by < today or lot.remaining_g <= 0:
        return False
    return grams is None or (grams <= lot.remaining_g and meets_minimum(lot, grams))


def sellable(
    today: date | ColumnElement[date], *, at_least_g: int | ColumnElement[int] = 1
) -> ColumnElement[bool]:
    """`can_sell` as an SQL condition on lots, for listings and candidates (`today`: the day
    at the lots' place; a lot elsewhere may still be re-checked with `can_sell`). Either may be
    a bound parameter (a statement built once); a parameter for `at_least_g` is at least 1."""
    at_least = at_least_g if isinstance(at_least_g, ColumnElement) else max(at_least_g, 1)
    return and_(
        Lot.status.in_(sorted(SELLABLE)),
        Lot.spoil_by >= today,
        Lot.remaining_g >= at_least,
    )


def minimum_met(grams: int | ColumnElement[int]) -> ColumnElement[bool]:
    """`meets_minimum` as an SQL condition on lots (for the statement that takes the stock)."""
    return or_(Lot.min_order_g.is_(None), Lot.min_order_g <= grams, Lot.remaining_g == grams)


def _unit_enum() -> Enum:
    return Enum(MassUnit, name="mass_unit", native_enum=False, length=4)


class Lot(HasPlace, db.Model):
    """One offer: a commodity, a quantity, a place, a price and a spoil-by date."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("remaining_g >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining_g <= quantity_g", name="remaining_within_quantity"),
        CheckConstraint("quantity_g > 0", name="quantity_positive"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint(
            f"holdback_pct BETWEEN 0 AND {MAX_HOLDBACK_PCT}", name="holdback_pct_in_range"
        ),
        CheckConstraint("settle_on_delivery OR settle_on_loading", name="settlement_offered"),
        Index("ix_lots_status_spoil_by", "status", "spoil_by"),
        # a province's or a county's open lots (the officials' pages) without reading the
        # whole country's open lots
        Index("ix_lots_province_status_spoil_by", "province_code", "status", "spoil_by"),
        Index("ix_lots_county_status_spoil_by", "county_code", "status", "spoil_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    commodity_id: Mapped[int] = mapped_column(ForeignKey("commodities.id"), index=True)
    #: the name as typed, for produce not in the catalogue, posted under its category's "other"
    #: entry; listed for administrators to add to the catalogue. None for catalogued produce.
    commodity_name: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    variety: Mapped[str | None] = mapped_column(String(60))
    grade: Mapped[str | None] = mapped_column(String(30))
    #: what was posted, and what is left uncommitted; integer grams
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    remaining_g: Mapped[int] = mapped_column(BigInteger)
    #: the unit the quantity was entered in (for showing it back the same way)
    quantity_unit: Mapped[MassUnit] = mapped_column(_unit_enum())
    #: the asking price as entered: fen per price_unit
    price_fen: Mapped[int] = mapped_column(BigInteger)
    price_unit: Mapped[MassUnit] = mapped_column(_unit_enum())
    #: the least a buyer may order (the last of a lot may always be bought); None: no minimum
    min_order_g: Mapped[int | None] = mapped_column(BigInteger)
    #: the same price in fen per tonne, exact whatever the unit: for filters and sorting
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger, index=True)
    province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    county_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    township: Mapped[str | None] = mapped_column(String(60))
    village: Mapped[str | None] = mapped_column(String(60))
    available_from: Mapped[date]
    #: the last day it can be sold, a calendar date in the lot's own time zone
    spoil_by: Mapped[date] = mapped_column(index=True)
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Shanghai")
    storage_notes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    #: the settlement terms the cooperative offers (at least one); see `Settlement`
    settle_on_delivery: Mapped[bool] = mapped_column(default=True, server_default=true())
    settle_on_loading: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: settled on loading: the share of the loaded amount kept until delivery (whole percent)
    holdback_pct: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[LotStatus] = mapped_column(
        Enum(LotStatus, name="lot_status", native_enum=False, length=12), default=LotStatus.open
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cooperative: Mapped[Organisation] = relationship()
    commodity: Mapped[Commodity] = relationship()
    province: Mapped[Region] = relationship(foreign_keys=[province_code])
    county: Mapped[Region] = relationship(foreign_keys=[county_code])
    photos: Mapped[list[LotPhoto]] = relationship(
        back_populates="lot", order_by="LotPhoto.position", cascade="all, delete-orphan"
    )

    def commodity_label(self, lang: str = "zh") -> str:
        """What the lot is, as people should read it: 榴莲干（其他水果）, or 黑豆."""
        return self.commodity.label(lang, typed_name=self.commodity_name)

    def today(self) -> date:
        return local_today(self.timezone)

    @property
    def current_status(self) -> LotStatus:
        """The status as of today: an open lot past its spoil-by date is expired, whether or
        not the expiry command has recorded it yet."""
        if self.status is LotStatus.open and self.spoil_by < self.today():
            return LotStatus.expired
        return self.status

    @property
    def days_left(self) -> int:
        """Days before it spoils: 0 on the spoil-by date itself, negative after it."""
        return (self.spoil_by - self.today()).days

    @property
    def settlements(self) -> tuple[Settlement, ...]:
        """The settlement terms offered, on delivery first."""
        offered = {
            Settlement.on_delivery: self.settle_on_delivery is not False,
            Settlement.on_loading: bool(self.settle_on_loading),
        }
        return tuple(s for s, on in offered.items() if on)

    @property
    def default_settlement(self) -> Settlement:
        """What an order gets when the buyer does not choose: on delivery if offered (the
        buyer's money is safest), else the one term offered."""
        return self.settlements[0]

    @property
    def orderable(self) -> bool:
        """Can anything be ordered of it now (see `can_sell`)?"""
        return can_sell(self)


class LotPhoto(db.Model):
    """A photo of a lot, re-encoded without metadata, with its thumbnail."""

    __tablename__ = "lot_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    #: keys in the upload storage
    key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lot: Mapped[Lot] = relationship(back_populates="photos")


class PhotoUpload(db.Model):
    """Photos an account decoded in one request, from one address: counted for the upload limits
    (`lots/uploads.py`) and kept for as long as their window, as failed logins are."""

    __tablename__ = "photo_uploads"
    __table_args__ = (
        Index("ix_photo_uploads_user_id_at", "user_id", "at"),
        Index("ix_photo_uploads_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(64))
    photos: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
