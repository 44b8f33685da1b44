"""Partners and groups: outgoing webhooks per organisation (lots posted and at risk, every step
of an order) and the offices' chat-group robots (WeChat Work, DingTalk: new urgent lots and a
daily at-risk summary), with one delivery log, retries with back-off and replay.

It listens to the domains' typed events (lots, orders) and uses the officials' notion of a lot
at risk (monitor), so it stands above them; the posting itself is in messaging/webhooks.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from produce_match import deploy
from produce_match.partners import permissions  # noqa: F401 (registers the policy's rules)


def site_url_problems(config: Mapping[str, Any]) -> list[str]:
    """A production site must name its public https:// address: webhooks and robots link to it."""
    if config.get("PRODUCE_MATCH_ENV") != "production":
        return []
    parts = urlsplit(str(config.get("SITE_URL") or ""))
    if parts.scheme != "https" or parts.hostname in (None, "127.0.0.1", "localhost", "::1"):
        return [
            "SITE_URL is not the site's public https:// address: the links in webhooks and "
            "group-robot messages would lead nowhere. Set SITE_URL=https://your.domain."
        ]
    return []


deploy.also_check(site_url_problems)
