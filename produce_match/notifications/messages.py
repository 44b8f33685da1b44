"""What each kind of notification says: one function per kind, registered by its domain.

A domain registers the words for its kinds next to the code that sends them:

    @message("order.placed")
    def _placed(p):
        return _("%(buyer)s ordered %(quantity)s of %(lot)s.", ...)

`render` calls it at display time with the stored params, so the same notification reads in
Chinese for one person and in English for another, and a fixed translation shows in old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

Renderer = Callable[[dict[str, Any]], str]

_RENDERERS: dict[str, Renderer] = {}


def message(kind: str) -> Callable[[Renderer], Renderer]:
    """Register the renderer of notifications of `kind`."""

    def register(fn: Renderer) -> Renderer:
        _RENDERERS[kind] = fn
        return fn

    return register


def render(kind: str, params: dict[str, Any]) -> str:
    """The notification in words, in the current language (a generic text for unknown kinds)."""
    renderer = _RENDERERS.get(kind)
    if renderer is None:
        return _("Something changed that concerns you.")
    try:
        return renderer(params or {})
    except (KeyError, TypeError, ValueError):  # params from an older version of the message
        return _("Something changed that concerns you.")


def kinds() -> list[str]:
    """Every registered kind (for tests: each has words in both languages)."""
    return sorted(_RENDERERS)
