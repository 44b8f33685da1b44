"""A page of search results as the templates and the API show it: lots, highlights, facets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from produce_match.catalog.models import Commodity, Region
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.search.backend import SearchRequest
from produce_match.search.highlight import mark, snippet
from produce_match.search.service import service


@dataclass
class Facet:
    value: str
    label: str
    count: int


@dataclass
class ResultsPage:
    request: SearchRequest
    lots: list[Lot]
    total: int
    #: lot id -> (title, snippet), with the searched words marked
    highlights: dict[int, tuple[Markup, Markup]]
    facets: dict[str, list[Facet]] = field(default_factory=dict)
    distances: dict[int, float] = field(default_factory=dict)
    suggestion: str | None = None
    relaxed: bool = False
    #: every "did you mean", nearest first
    suggestions: list[str] = field(default_factory=list)
    #: nothing matched every word: these are the lots of the suggestion instead
    corrected: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.per_page))


def _labels(facets: dict[str, list[tuple[str, int]]], lang: str) -> dict[str, list[Facet]]:
    codes = {v for name in ("province", "county") for v, _ in facets.get(name, [])}
    regions = (
        {r.code: r.name for r in db.session.scalars(select(Region).where(Region.code.in_(codes)))}
        if codes
        else {}
    )
    wanted = [v for v, _ in facets.get("commodity", [])]
    names = (
        {
            c.code: c.display_name(lang)
            for c in db.session.scalars(select(Commodity).where(Commodity.code.in_(wanted)))
        }
        if wanted
        else {}
    )
    out: dict[str, list[Facet]] = {}
    for name, counts in facets.items():
        label = (
            names if name == "commodity" else (regions if name in ("province", "county") else {})
        )
        out[name] = [Facet(v, label.get(v, v), n) for v, n in counts]
    return out


def results_page(request: SearchRequest, lang: str | None = None) -> ResultsPage:
    """Search, then load the page's lots from the database with their highlights."""
    from produce_match.i18n import current_language

    search = service()
    result = search.search(request)
    lots = search.lots_for(result)
    analysed = search.analyzer.query(request.text)
    highlights: dict[int, Any] = {
        lot.id: (mark(lot.title, analysed), snippet(lot.description, analysed)) for lot in lots
    }
    return ResultsPage(
        request=request,
        lots=lots,
        total=result.total,
        highlights=highlights,
        facets=_labels(result.facets, lang or current_language()),
        distances={h.lot_id: h.distance_km for h in result.hits if h.distance_km is not None},
        suggestion=result.suggestion,
        relaxed=result.relaxed,
        suggestions=result.suggestions,
        corrected=result.corrected,
    )
