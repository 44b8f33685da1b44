"""A search as the pages and the API express it: query-string parameters -> SearchRequest.

One reading of the parameters for both, so that /lots?q=… and /api/v1/lots?q=… always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _

from produce_match.catalog import commodities, regions
from produce_match.dates import BadDate, local_today, parse_date
from produce_match.errors import ValidationFailed
from produce_match.search.backend import SORTS, SearchRequest
from produce_match.units import UnitError, fen_per_tonne, to_fen, to_grams

MAX_QUERY = 200
STATUS_CHOICES = {
    "": ("open",),
    "open": ("open",),
    "sold_out": ("sold_out",),
    "expired": ("expired",),
    "all": ("open", "sold_out", "expired"),
}


@dataclass
class ParsedSearch:
    request: SearchRequest
    #: what to show back in the form
    echo: dict[str, Any] = field(default_factory=dict)


def parse(args: Any, *, origin: tuple[float, float] | None = None) -> ParsedSearch:
    """Read the search parameters; unknown names of things are errors per parameter."""
    errors: dict[str, list[str]] = {}
    echo = {
        k: (args.get(k) or "").strip()
        for k in (
            "q",
            "commodity",
            "province",
            "county",
            "grade",
            "min_quantity",
            "unit",
            "max_price",
            "price_unit",
            "spoil_within",
            "spoil_after",
            "spoil_before",
            "status",
            "sort",
            "near",
        )
    }
    text = echo["q"]
    if len(text) > MAX_QUERY:
        errors["q"] = [_("At most %(max)d characters.", max=MAX_QUERY)]
        text = ""
    request = SearchRequest(text=text, today=local_today())

    if echo["commodity"]:
        found = commodities.resolve(echo["commodity"][:40])
        if found is None:
            errors["commodity"] = [_("Unknown commodity: %(name)s", name=echo["commodity"][:40])]
        else:
            request.commodity = found.code
    province = None
    if echo["province"]:
        province = regions.find_province(echo["province"][:40])
        if province is None:
            errors["province"] = [_("Unknown province: %(name)s", name=echo["province"][:40])]
        else:
            request.province = province.code
    if echo["county"]:
        found_counties = regions.find_counties(
            echo["county"][:40], province.code if province else None
        )
        if len(found_counties) == 1:
            request.county = found_counties[0].code
        else:
            errors["county"] = [
                _("No such county.")
                if not found_counties
                else _(
                    "Several counties are called %(name)s: choose the province.",
                    name=echo["county"][:40],
                )
            ]
    if echo["grade"]:
        request.grade = echo["grade"][:30]
    if echo["min_quantity"]:
        try:
            request.min_remaining_g = to_grams(echo["min_quantity"][:20], echo["unit"] or "t")
        except UnitError as exc:
            errors["min_quantity"] = [str(exc.message)]
    if echo["max_price"]:
        try:
            unit = echo["price_unit"] or "kg"
            request.max_price_fen_per_t = fen_per_tonne(to_fen(echo["max_price"][:20]), unit)
        except UnitError as exc:
            errors["max_price"] = [str(exc.message)]
    if echo["spoil_within"]:
        if echo["spoil_within"].isdigit() and int(echo["spoil_within"]) <= 3650:
            request.spoil_to = local_today() + timedelta(days=int(echo["spoil_within"]))
        else:
            errors["spoil_within"] = [_("A number of days.")]
    for name, attr in (("spoil_after", "spoil_from"), ("spoil_before", "spoil_to")):
        if echo[name]:
            try:
                setattr(request, attr, parse_date(echo[name][:20]))
            except BadDate as exc:
                errors[name] = [str(exc.message)]
    if echo["status"] not in STATUS_CHOICES:
        errors["status"] = [_("Unknown status.")]
    else:
        request.statuses = STATUS_CHOICES[echo["status"]]
    sort = echo["sort"] or ("relevance" if text else "urgency")
    if sort not in SORTS:
        errors["sort"] = [_("Unknown sort order.")]
    request.sort = sort
    if sort == "distance":
        near = echo["near"]
        place = None
        if near:
            found_near = regions.find_counties(near[:40]) or [regions.find_province(near[:40])]
            place = found_near[0] if found_near and found_near[0] is not None else None
            if place is None:
                errors["near"] = [_("No such place.")]
        if place is not None:
            request.origin = (place.lat, place.lng)
        elif origin is not None:
            request.origin = origin
        elif "near" not in errors:
            errors["near"] = [_("Say where to measure the distance from.")]
    if errors:
        raise ValidationFailed(_("Please correct the search."), fields=errors)
    return ParsedSearch(request=request, echo=echo)
