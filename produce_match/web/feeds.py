"""Public feeds of the open lots for marketplaces and aggregators: JSON Feed 1.1
(`/feeds/lots.json`) and Atom (`/feeds/lots.atom`), by commodity and place.

Query parameters (all optional): `commodity` (a code or any name: 黑豆, heidou, black_bean),
`province` and `county` (a code, or a name), `sort` (`newest`, the default, or `urgent`),
`limit` (1-100, default 50) and `lang` (`zh`, the default, or `en`). A parameter that cannot be
read answers 400 with a message saying which and why; nothing else depends on the visitor (no
cookie, no Accept-Language), so shared caches may keep a feed for its URL.

Both documents are drawn from the same entries. Atom is a Jinja template (autoescaped XML):
the document is small and fixed, and a template keeps it readable beside the JSON, with no
dependency for it. JSON Feed is a dict dumped as JSON.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template, request
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select

from produce_match import units
from produce_match.catalog import regions
from produce_match.dates import DEFAULT_TIMEZONE, local_today
from produce_match.extensions import db
from produce_match.links import external_url
from produce_match.lots.models import Lot
from produce_match.shops import queries
from produce_match.web.pagecache import shared

bp = Blueprint("feeds", __name__)

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
JSON_TYPE = "application/feed+json; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
#: entries in a feed: by default, and at most
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
#: seconds a feed reader or a shared cache may keep a feed without asking again
MAX_AGE = 300
FEED_LANGUAGES = ("zh", "en")


class BadFilter(ValueError):
    """A query parameter of a feed that cannot be read; the message says which and why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def parse_filters(args: Any) -> tuple[queries.Wanted, queries.Order, int, dict[str, str]]:
    """(what is wanted, the order, the number of entries, the normalised parameters)."""
    echo: dict[str, str] = {}
    commodity_id = commodity_name = None
    text = (args.get("commodity") or "").strip()
    if text:
        found = queries.commodity_named(text) if len(text) <= 40 else None
        if found is None:
            raise BadFilter("commodity", _("No produce is known as “%(name)s”.", name=text[:40]))
        commodity_id, commodity_name = found
        echo["commodity"] = str(commodity_id) if commodity_id else str(commodity_name)
    province_code = county_code = None
    province_text = (args.get("province") or "").strip()
    if province_text:
        province = regions.find_province(province_text[:40])
        if province is None:
            raise BadFilter(
                "province", _("No province is known as “%(name)s”.", name=province_text[:40])
            )
        province_code = province.code
    county_text = (args.get("county") or "").strip()
    if county_text:
        counties = regions.find_counties(county_text[:40], province_code)
        if not counties:
            raise BadFilter("county", _("No county is known as “%(name)s”.", name=county_text[:40]))
        if len(counties) > 1:
            raise BadFilter(
                "county",
                _(
                    "Several counties are called “%(name)s”: give its code (%(codes)s).",
                    name=county_text[:40],
                    codes=", ".join(c.code for c in counties[:5]),
                ),
            )
        county_code, province_code = counties[0].code, counties[0].province_code
    if province_code:
        echo["province"] = province_code
    if county_code:
        echo["county"] = county_code
    sort = (args.get("sort") or "newest").strip()
    if sort not in queries.Order.__members__:
        raise BadFilter("sort", _("sort must be “newest” or “urgent”."))
    echo["sort"] = sort
    raw_limit = (args.get("limit") or str(DEFAULT_LIMIT)).strip()
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadFilter("limit", _("limit must be a whole number from 1 to %(n)d.", n=MAX_LIMIT))
    echo["limit"] = str(int(raw_limit))
    wanted = queries.Wanted(queries.Place(province_code, county_code), commodity_id, commodity_name)
    return wanted, queries.Order(sort), int(raw_limit), echo


def _language() -> str:
    lang = (request.args.get("lang") or "zh").strip()
    return lang if lang in FEED_LANGUAGES else ""


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(lot: Lot, lang: str) -> dict[str, Any]:
    """What both feeds say of one lot."""
    url = external_url("lots.detail", lot_id=lot.id)
    photo = lot.photos[0] if lot.photos else None
    image = external_url("lots.media", key=photo.key) if photo else None
    facts = {
        "commodity": lot.commodity_label(lang),
        "left": units.format_mass(lot.remaining_g, lot.quantity_unit, lang),
        "price": units.format_price(lot.price_fen_per_t, lot.price_unit, lang),
        "days": lot.days_left,
        "place": lot.place,
    }
    days = (
        _("Spoils today")
        if lot.days_left <= 0
        else ngettext("%(num)d day left", "%(num)d days left", lot.days_left)
    )
    summary = " · ".join(
        [facts["commodity"], _("%(q)s left", q=facts["left"]), facts["price"], days, lot.place]
    )
    return {
        "id": url,
        "url": url,
        "title": lot.title,
        "summary": summary,
        "content_html": render_template(
            "feeds/_entry.html", lot=lot, facts=facts, days=days, image=image
        ),
        "image": image,
        "published": lot.created_at,
        "updated": lot.updated_at or lot.created_at,
        "author": lot.cooperative.name,
        "tags": [facts["commodity"], lot.county.name if lot.county else ""],
        "data": {
            "commodity_code": lot.commodity.code,
            "remaining_kg": units.amount_text(lot.remaining_g, "kg"),
            "price_yuan_per_kg": format(units.price_in(lot.price_fen_per_t, "kg"), "f"),
            "spoil_by": lot.spoil_by.isoformat(),
            "days_left": lot.days_left,
            "province_code": lot.province_code,
            "county_code": lot.county_code,
        },
    }


def _title(wanted: queries.Wanted) -> str:
    """The feed's title: its place and produce, then what it is."""
    parts = []
    place = wanted.place.county_code or wanted.place.province_code
    if place:
        from produce_match.catalog.models import Region

        region = db.session.get(Region, place)
        if region is not None:
            parts.append(region.name)
    if wanted.commodity_id:
        from produce_match.catalog.models import Commodity

        commodity = db.session.get(Commodity, wanted.commodity_id)
        if commodity is not None:
            parts.append(commodity.display_name())
    elif wanted.commodity_name:
        parts.append(wanted.commodity_name)
    site = _("Stranded produce looking for buyers")
    return f"{' '.join(parts)} · {site}" if parts else site


def _changed_since(wanted: queries.Wanted) -> datetime:
    """When the feed's content last changed: a lot of what is wanted (in any state: one that
    sold out leaves the feed) was written, or the day began (every lot's days left change)."""
    last = db.session.scalar(select(func.max(Lot.updated_at)).where(*wanted.conditions()))
    midnight = datetime.combine(local_today(), time(), ZoneInfo(DEFAULT_TIMEZONE))
    if last is None:
        return midnight
    if last.tzinfo is None:
        last = last.replace(tzinfo=ZoneInfo("UTC"))
    return max(last, midnight)


def _build(kind: str, lang: str) -> tuple[str, str]:
    """(the feed's body, its Last-Modified as RFC 3339); raises BadFilter."""
    wanted, order, limit, echo = parse_filters(request.args)
    lots = queries.open_lots(wanted, order=order, limit=limit)
    entries = [_entry(lot, lang) for lot in lots]
    changed = _changed_since(wanted)
    args = {**echo, "lang": lang}
    self_url = external_url(f"feeds.lots_{kind}", **args)
    home = external_url("lots.browse")
    title = _title(wanted)
    description = _(
        "Lots of farm produce that must be sold before they spoil, from village cooperatives."
    )
    if kind == "json":
        body = {
            "version": JSON_FEED_VERSION,
            "title": title,
            "home_page_url": home,
            "feed_url": self_url,
            "description": description,
            "language": "zh-CN" if lang == "zh" else "en",
            "icon": external_url("static", filename="img/share.png"),
            "favicon": external_url("static", filename="img/favicon.svg"),
            "authors": [{"name": _("Produce Match"), "url": home}],
            "items": [
                {
                    "id": e["id"],
                    "url": e["url"],
                    "title": e["title"],
                    "summary": e["summary"],
                    "content_html": e["content_html"],
                    **({"image": e["image"]} if e["image"] else {}),
                    "date_published": _rfc3339(e["published"]),
                    "date_modified": _rfc3339(e["updated"]),
                    "authors": [{"name": e["author"]}],
                    "tags": [t for t in e["tags"] if t],
                    "_produce_match": e["data"],
                }
                for e in entries
            ],
        }
        text = json.dumps(body, ensure_ascii=False, indent=1)
    else:
        alternate = external_url("feeds.lots_json", **args)
        text = render_template(
            "feeds/lots.atom.xml",
            title=title,
            subtitle=description,
            self_url=self_url,
            alternate_json=alternate,
            home=home,
            updated=_rfc3339(max([changed, *(e["updated"] for e in entries)])),
            entries=[
                {**e, "published": _rfc3339(e["published"]), "updated": _rfc3339(e["updated"])}
                for e in entries
            ],
            lang="zh-CN" if lang == "zh" else "en",
        )
    return text, _rfc3339(changed)


def _error(kind: str, exc: BadFilter) -> Response:
    if kind == "json":
        error = {"code": "bad_filter", "message": exc.message, "fields": {exc.name: [exc.message]}}
        body = json.dumps({"error": error}, ensure_ascii=False)
        return Response(body, 400, content_type="application/json; charset=utf-8")
    return Response(exc.message + "\n", 400, content_type="text/plain; charset=utf-8")


def _feed(kind: str) -> Response:
    lang = _language()
    if not lang:
        return _error(kind, BadFilter("lang", _("lang must be “zh” or “en”.")))
    with force_locale(lang):
        try:
            # kept like the pages: the same generation of the data, the same quarter of an
            # hour, for this host and query (the entries' addresses are absolute)
            key = f"feed:{kind}:{request.host_url}:{request.query_string.decode('latin-1')}"
            text, changed = shared(key, lambda: _build(kind, lang))
        except BadFilter as exc:
            return _error(kind, exc)
    response = Response(text, content_type=JSON_TYPE if kind == "json" else ATOM_TYPE)
    response.set_etag(hashlib.sha256(text.encode()).hexdigest()[:32])
    response.last_modified = datetime.strptime(changed, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=ZoneInfo("UTC")
    )
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    # public data: a reader in a browser on another site may read it too
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


@bp.route("/feeds/lots.json")
def lots_json() -> Response:
    return _feed("json")


@bp.route("/feeds/lots.atom")
def lots_atom() -> Response:
    return _feed("atom")


def feed_links(**args: str) -> list[dict[str, str]]:
    """The `<link rel="alternate">` of the feeds of these filters, for a page's head."""
    return [
        {
            "type": "application/feed+json",
            "href": external_url("feeds.lots_json", **args),
            "title": _("Lots on offer (JSON Feed)"),
        },
        {
            "type": "application/atom+xml",
            "href": external_url("feeds.lots_atom", **args),
            "title": _("Lots on offer (Atom)"),
        },
    ]
