"""Absolute links to this site, for what leaves it: short links and posters' codes, Open Graph
tags, feeds, e-mails, partners' webhooks and group robots' messages.

SITE_URL (the site's public address) is their base when set, as it must be in production
(`check-deploy`). Unset, a page uses the address its request came to, and the worker, which has
no request, the development address `make run` serves.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, request, url_for

#: where `make run` serves the site: the worker's base when SITE_URL is unset (development)
DEVELOPMENT_SITE = "http://127.0.0.1:5000"


def site_url(path: str) -> str:
    """The absolute address of `path` (a path of this site, starting with /)."""
    base = current_app.config.get("SITE_URL")
    if not base:
        base = request.host_url if has_request_context() else DEVELOPMENT_SITE
    return base.rstrip("/") + "/" + path.lstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, **values)` as an absolute address (see `site_url`)."""
    return site_url(url_for(endpoint, **values))
