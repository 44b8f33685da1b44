"""Pages kept rendered for visitors who are not logged in (the home page, search results, a
lot's page), and the catalogue's lists kept for everyone: see produce_match/cache.py for where
they live and why they are never stale.

A kept page is the page as a visitor without an account sees it, in one language, in one quarter
of an hour (every time zone's day begins on one: a lot's days left and state change with its
own day), for one path and query string, in one generation of the data. The only part of
it that belongs to the visitor, the CSRF token of the header's forms, is kept as a placeholder
and filled in for each request. A page is never kept nor served from the cache for a logged-in
user, nor for a visitor with a message waiting to be shown (a flash), nor for anything but a
GET answered with 200.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from produce_match import cache
from produce_match.database import utcnow
from produce_match.i18n import current_language
from produce_match.lots.events import lots_written

#: what kept pages and lists are made of: a commit writing any of these moves the generation on
cache.watch(
    "lots",
    "lot_photos",
    "orders",
    "commodities",
    "commodity_names",
    "regions",
    "organisations",
    # the search index caught up with the lots: the worker empties the outbox after writing the
    # documents (the PostgreSQL backend's are rows of search_documents)
    "search_outbox",
    "search_documents",
)

#: stands for the visitor's CSRF token in a kept page
TOKEN_PLACEHOLDER = "\x00csrf\x00"  # noqa: S105 - a placeholder, not a secret
_UNTIL = "page_kept_until"


@lots_written.connect
def _lots_written(_sender: Any, **_: Any) -> None:
    cache.changed()


def _quarter() -> str:
    now = utcnow()
    return f"{now:%Y%m%d%H}.{now.minute // 15}"


def keep_until(instant: datetime | None) -> None:
    """The page being rendered shows what it shows only until `instant` (a reservation that
    lapses then): once it has passed, the kept copy is made again."""
    if instant is not None and (g.get(_UNTIL) is None or instant < g.get(_UNTIL)):
        setattr(g, _UNTIL, instant)


def _for_everyone() -> bool:
    return (
        request.method == "GET"
        and not current_user.is_authenticated
        and not session.get("_flashes")
    )


def kept_for_visitors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve the view's page from the cache for visitors who are not logged in."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _for_everyone():
            return view(*args, **kwargs)
        key = f"page:{current_language()}:{_quarter()}:{request.full_path}"
        found = cache.cache.get(f"{cache.generation()}:{key}")
        if found is not None:
            html, until = found
            if until is None or utcnow() < until:
                return html.replace(TOKEN_PLACEHOLDER, generate_csrf())
        g.pop(_UNTIL, None)
        response = view(*args, **kwargs)
        if isinstance(response, str) and _for_everyone():  # a plain 200 page
            token = g.get("csrf_token")
            kept = response.replace(token, TOKEN_PLACEHOLDER) if token else response
            cache.cache.set(f"{cache.generation()}:{key}", (kept, g.get(_UNTIL)))
        return response

    return wrapper


def shared(name: str, make: Callable[[], Any]) -> Any:
    """A part of a page that every visitor sees alike (logged in or not), in the page's
    language, kept like the pages (its lots' days left change with the quarter of an hour)."""
    return cache.kept(f"shared:{current_language()}:{_quarter()}:{name}", make)


def catalogue(name: str, make: Callable[[], Any]) -> Any:
    """A list of the catalogue (provinces, commodities ...) in the page's language, kept."""
    return cache.kept(f"catalogue:{current_language()}:{name}", make)
