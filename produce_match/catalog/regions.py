"""Looking up regions by what people type, and distances between them (read-only)."""

from __future__ import annotations

from sqlalchemy import or_

from produce_match.catalog.models import Region, RegionLevel
from produce_match.extensions import db
from produce_match.geo import great_circle_km


def provinces() -> list[Region]:
    """All province-level regions, in code order."""
    return list(
        db.session.scalars(
            db.select(Region).where(Region.level == RegionLevel.province).order_by(Region.code)
        )
    )


def counties(province_code: str) -> list[Region]:
    """The county-level regions of a province, in code order."""
    return list(
        db.session.scalars(
            db.select(Region)
            .where(Region.level == RegionLevel.county, Region.province_code == province_code)
            .order_by(Region.code)
        )
    )


def _clean(text: str | None) -> str:
    return (text or "").strip().replace(" ", "")


def find_province(text: str | None) -> Region | None:
    """A province by code, full name or short name (辽宁, 辽宁省, 210000)."""
    text = _clean(text)
    if not text:
        return None
    return db.session.scalar(
        db.select(Region).where(
            Region.level == RegionLevel.province,
            or_(Region.code == text, Region.name == text, Region.short_name == text),
        )
    )


def find_counties(text: str | None, province_code: str | None = None) -> list[Region]:
    """County-level regions matching a code, full name or short name, optionally in a province.

    Several counties of China share a name (there are many 城关区 and 新华区), so this returns
    every match; callers ask the user to choose when there is more than one.
    """
    text = _clean(text)
    if not text:
        return []
    query = db.select(Region).where(
        Region.level == RegionLevel.county,
        or_(Region.code == text, Region.name == text, Region.short_name == text),
    )
    if province_code:
        query = query.where(Region.province_code == province_code)
    return list(db.session.scalars(query.order_by(Region.code)))


def find_place(
    province_text: str | None, county_text: str | None
) -> tuple[Region | None, list[Region]]:
    """`find_province(province_text)` and, if it found one, `find_counties(county_text, its
    code)`, in one query (typing a place is part of placing an order: one round trip less)."""
    province_text, county_text = _clean(province_text), _clean(county_text)
    if not province_text:
        return None, []
    loaded = _loaded_place(province_text, county_text)
    if loaded is not None:
        return loaded
    wanted = [
        (Region.level == RegionLevel.province)
        & or_(
            Region.code == province_text,
            Region.name == province_text,
            Region.short_name == province_text,
        )
    ]
    if county_text:
        wanted.append(
            (Region.level == RegionLevel.county)
            & or_(
                Region.code == county_text,
                Region.name == county_text,
                Region.short_name == county_text,
            )
        )
    found = list(db.session.scalars(db.select(Region).where(or_(*wanted)).order_by(Region.code)))
    province = next((r for r in found if r.level is RegionLevel.province), None)
    if province is None or not county_text:
        return province, []
    return province, [
        r for r in found if r.level is RegionLevel.county and r.province_code == province.code
    ]


def _loaded_place(
    province_code: str, county_code: str
) -> tuple[Region | None, list[Region]] | None:
    """A place given by its codes whose regions this session already read (the buyer's own
    place is read with the buyer: see accounts' `user_for_token`), without a query; None when
    one of them is not at hand (the query answers). Regions are reference data: the rows a
    session holds are the rows it would read again."""
    session = db.session()
    province = session.identity_map.get(session.identity_key(Region, province_code))
    if province is None or province.level is not RegionLevel.province:
        return None
    if not county_code:
        return province, []
    county = session.identity_map.get(session.identity_key(Region, county_code))
    if county is None or county.level is not RegionLevel.county:
        return None
    return province, [county] if county.province_code == province.code else []


def distance_km(a: Region, b: Region) -> float:
    """Great-circle distance between two regions' centroids."""
    return great_circle_km(a.lat, a.lng, b.lat, b.lng)
