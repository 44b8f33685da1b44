"""The only code that writes catalogue rows."""

from __future__ import annotations

import csv
from pathlib import Path

from produce_match.catalog.models import Region, RegionLevel
from produce_match.extensions import db

DATA_DIR = Path(__file__).with_name("data")


def load_regions(path: Path | None = None) -> int:
    """Insert or update every region from the CSV shipped in the repo; returns the row count."""
    path = path or DATA_DIR / "regions.csv"
    existing = {r.code: r for r in db.session.scalars(db.select(Region))}
    count = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            values = {
                "name": row["name"],
                "short_name": row["short_name"] or row["name"],
                "level": RegionLevel(row["level"]),
                "parent_code": row["parent_code"] or None,
                "province_code": row["code"][:2] + "0000",
                "lat": float(row["lat"]),
                "lng": float(row["lng"]),
            }
            region = existing.get(row["code"])
            if region is None:
                db.session.add(Region(code=row["code"], **values))
            else:
                for key, value in values.items():
                    setattr(region, key, value)
            count += 1
    db.session.flush()
    return count
