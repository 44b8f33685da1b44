"""The security headers every response the project serves carries: the site's pages
(produce_match.web.security adds them after each request) and the sandbox gateway's, a WSGI app
of its own, so that no page the project serves misses one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import request

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def content_security_policy(form_action: list[str], script_src: Sequence[str] = ()) -> str:
    """The site's Content-Security-Policy; forms may also post to the `form_action` origins,
    and scripts come from the `script_src` origins too (WeChat's JS-SDK, when configured)."""
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *script_src]),
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action " + " ".join(["'self'", *form_action]),
        ]
    )


def apply_headers(
    response: Any, form_action: Sequence[str] = (), script_src: Sequence[str] = ()
) -> Any:
    """Put the headers every response of the project carries on `response`.

    The one path for the site and for the sandbox gateway's pages (a WSGI app of its own,
    mounted beside the site or run alone), so that no page the project serves misses one.
    """
    headers = response.headers
    # files we serve set a stricter policy of their own (default-src 'none'): keep it
    headers.setdefault(
        "Content-Security-Policy", content_security_policy(list(form_action), script_src)
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
