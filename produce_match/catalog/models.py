from __future__ import annotations

import enum

from sqlalchemy import Enum, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from produce_match.extensions import db


class RegionLevel(enum.StrEnum):
    province = "province"  #: province, autonomous region or municipality (省级)
    prefecture = "prefecture"  #: prefecture-level city, prefecture, league (地级)
    county = "county"  #: county, county-level city, district, banner (县级)


class Region(db.Model):
    """An administrative division, keyed by its 6-digit code (adcode)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    #: the name people use in short: 辽宁 for 辽宁省, 彰武 for 彰武县
    short_name: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[RegionLevel] = mapped_column(
        Enum(RegionLevel, name="region_level", native_enum=False, length=12)
    )
    parent_code: Mapped[str | None] = mapped_column(String(6), index=True)
    #: the province a region lies in (its own code for a province)
    province_code: Mapped[str] = mapped_column(String(6), index=True)
    #: centroid, decimal degrees (coordinates, not quantities: floats are fine here)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)

    def __str__(self) -> str:
        return self.name
