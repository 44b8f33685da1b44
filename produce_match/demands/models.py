from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Enum, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import Organisation
from produce_match.catalog.models import Commodity, Region
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle
from produce_match.units import MassUnit


class DemandStatus(enum.StrEnum):
    active = "active"  #: matched against lots, and alerted about new ones
    paused = "paused"  #: kept, but neither matched nor alerted until resumed
    closed = "closed"  #: done with; it stays in the records and cannot be reopened


class DemandAction(enum.StrEnum):
    pause = "pause"
    resume = "resume"
    close = "close"


#: THE transition table of demands: (from, action) -> to
DEMAND_TRANSITIONS: dict[tuple[DemandStatus, DemandAction], DemandStatus] = {
    (DemandStatus.active, DemandAction.pause): DemandStatus.paused,
    (DemandStatus.paused, DemandAction.resume): DemandStatus.active,
    (DemandStatus.active, DemandAction.close): DemandStatus.closed,
    (DemandStatus.paused, DemandAction.close): DemandStatus.closed,
}
DEMANDS: Lifecycle[DemandStatus, DemandAction] = Lifecycle(
    "demands",
    DemandStatus,
    DemandAction,
    DEMAND_TRANSITIONS,
    verbs={
        DemandAction.pause: "paused",
        DemandAction.resume: "resumed",
        DemandAction.close: "closed",
    },
)
#: the states in which a demand is matched against lots and alerted about them: those it can
#: be paused from
MATCHED = DEMANDS.sources(DemandAction.pause)
#: states in which it may still be edited (not closed)
EDITABLE = DEMANDS.live


def _unit_enum() -> Enum:
    return Enum(MassUnit, name="mass_unit", native_enum=False, length=4)


class Demand(db.Model):
    """A buyer's standing request: "10-50 t of black beans, grade 2 or better, up to 6 yuan/kg,
    delivered to Nanchang by the 30th"."""

    __tablename__ = "demands"
    __table_args__ = (
        CheckConstraint("min_quantity_g > 0", name="min_positive"),
        CheckConstraint("max_quantity_g >= min_quantity_g", name="max_not_below_min"),
        CheckConstraint("max_price_fen > 0", name="price_positive"),
        CheckConstraint("max_distance_km IS NULL OR max_distance_km > 0", name="distance_positive"),
        Index("ix_demands_status_commodity", "status", "commodity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    commodity_id: Mapped[int] = mapped_column(ForeignKey("commodities.id"))
    #: the grades accepted, as the buyer wrote them; empty: any grade
    grades: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the quantity range, integer grams, and the unit it was entered in
    min_quantity_g: Mapped[int] = mapped_column(BigInteger)
    max_quantity_g: Mapped[int] = mapped_column(BigInteger)
    quantity_unit: Mapped[MassUnit] = mapped_column(_unit_enum())
    #: the highest price, as entered (fen per price_unit), and per tonne for comparing
    max_price_fen: Mapped[int] = mapped_column(BigInteger)
    price_unit: Mapped[MassUnit] = mapped_column(_unit_enum())
    max_price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    #: where it is delivered
    province_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    county_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    #: the last day it may arrive, a calendar date in Asia/Shanghai
    needed_by: Mapped[date]
    #: the farthest a lot may be, in km (great circle between county centroids); None: any
    max_distance_km: Mapped[int | None]
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DemandStatus] = mapped_column(
        Enum(DemandStatus, name="demand_status", native_enum=False, length=10),
        default=DemandStatus.active,
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    buyer: Mapped[Organisation] = relationship()
    commodity: Mapped[Commodity] = relationship()
    province: Mapped[Region] = relationship(foreign_keys=[province_code])
    county: Mapped[Region] = relationship(foreign_keys=[county_code])

    @property
    def place(self) -> str:
        return f"{self.province.name} {self.county.name}"

    @property
    def grades_text(self) -> str:
        return "、".join(self.grades or [])
