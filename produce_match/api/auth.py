"""Bearer-token authentication for the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from flask_smorest import Blueprint
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import User

_UNSET = object()


def current_api_user() -> User | None:
    """The user of the request's bearer token, or None."""
    user = g.get("api_user", _UNSET)
    if user is _UNSET:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        user = accounts.user_for_token(raw.strip()) if scheme.lower() == "bearer" and raw else None
        g.api_user = user
    return user


def require_user() -> User:
    user = current_api_user()
    if user is None:
        raise Unauthorized(www_authenticate=WWWAuthenticate("bearer"))
    return user


def token_required(blp: Blueprint) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse the request with 401 unless it carries a live token; documents the security."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require_user()
            return fn(*args, **kwargs)

        return blp.doc(security=[{"bearerAuth": []}])(wrapper)

    return decorate
