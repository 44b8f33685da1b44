"""Distances on the map and days on the road: pure functions, no app, no database.

The regions' distances (catalog.regions), the matching rule's transit time (matching.rules)
and an order's estimated arrival (orders.queries) all reckon with these.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088

#: how far a truck gets in a day, door to door (about 10 hours at 50 km/h with loading and
#: stops): transit takes ceil(distance / 500) days, and at least one day
KM_PER_DAY = 500


def great_circle_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres between two points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def transit_days(distance_km: float) -> int:
    """Days on the road: ceil(distance / KM_PER_DAY), at least one (loading and delivery)."""
    return max(1, math.ceil(distance_km / KM_PER_DAY))
