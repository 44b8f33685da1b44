"""Ratings after completion: one per side per order; averages shown from the floor on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RatingSummary:
    """What pages show of an organisation's ratings: the average only from `shown_from` on."""

    count: int = 0
    #: None below the floor (fewer than RATINGS_SHOWN_FROM ratings)
    average: float | None = None
    #: (tag, how many ratings gave it), most given first
    tags: tuple[tuple[str, int], ...] = field(default_factory=tuple)


def summary_of(org_id: int) -> RatingSummary:
    """The ratings an organisation received, as pages and the API show them."""
    return RatingSummary()
