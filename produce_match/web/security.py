"""Response headers that make the browser an ally, and limits on what a request may carry.

* A strict Content-Security-Policy: scripts, styles, images and fonts only from this site, no
  inline script or style anywhere (the templates have none, and the browser tests fail on any
  CSP violation), no framing (`frame-ancestors 'none'`), forms post only back to this site (and
  to origins a package adds to `CSP_FORM_ACTION`, such as a payment page).
* nosniff, a same-origin Referrer-Policy (tracking links carry an unguessable code), no
  powerful browser features, and a same-origin opener policy.
* HSTS and secure cookies when served over HTTPS. Behind a reverse proxy, set TRUSTED_PROXIES to
  the number of proxies in front, so that the scheme and the client address come from their
  X-Forwarded-* headers (werkzeug's ProxyFix) and from nobody else.
* Pages for a logged-in user are never stored by shared caches.
* Size limits: MAX_CONTENT_LENGTH for any body (photos included), a much smaller one for JSON
  bodies of the API, and Werkzeug's limits on form fields held in memory and on form parts.

The headers themselves are produce_match.headers (the sandbox gateway sends them too).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from produce_match import inputs
from produce_match.headers import apply_headers

#: the largest JSON body the API accepts (an order, a lot, a demand ... are far smaller)
MAX_JSON_BYTES = 256 * 1024


def _limit_json() -> None:
    # request.is_json is what the API's parser reads as JSON: application/json and any
    # application/*+json; every one of them gets the same limits and checks
    if request.is_json:  # reading a larger body answers 413
        request.max_content_length = MAX_JSON_BYTES


def _json_body() -> Any:
    """The request's JSON body (None if it is not JSON or cannot be parsed: the endpoint that
    reads it says so); a document nested too deeply is refused here, before anything parses it
    with a parser that would exhaust the stack."""
    if not request.is_json:
        return None
    try:
        return inputs.load_json(request.get_data(cache=True))
    except inputs.JSONTooDeep:
        raise BadRequest(
            _(
                "The JSON document is nested too deeply (at most %(n)d levels).",
                n=inputs.MAX_JSON_DEPTH,
            )
        ) from None
    except ValueError:  # not JSON, or not UTF-8: the endpoint answers with its own message
        return None


def _refuse_unstorable_text() -> None:
    """Refuse (400) a request whose text could not be stored, before anything reads it.

    The path, the query, a form's fields and a JSON body: the same rule for every page and
    every API endpoint (`inputs.UNSTORABLE`); spreadsheet imports check their cells with it.
    """
    sources: list[Any] = [request.path, list(request.args.items(multi=True))]
    sources.append(dict(request.view_args or {}))
    if request.is_json:
        sources.append(_json_body())
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if request.mimetype == "application/x-www-form-urlencoded":
            # kept: a provider's form-encoded notification is verified over its raw body
            request.get_data(cache=True)
        sources.append(list(request.form.items(multi=True)))
    for source in sources:
        for text in inputs.texts_in(source):
            if inputs.UNSTORABLE.search(text):
                raise BadRequest(
                    _(
                        "The request contains characters that cannot be stored (control "
                        "characters or broken Unicode). Remove them and try again."
                    )
                )


def _headers(response: Any) -> Any:
    apply_headers(
        response,
        current_app.config.get("CSP_FORM_ACTION", []),
        current_app.config.get("CSP_SCRIPT_SRC", []),
    )
    headers = response.headers
    if "Cache-Control" not in headers and request.cookies.get(
        current_app.config["SESSION_COOKIE_NAME"]
    ):
        headers["Cache-Control"] = "private, no-store"
        headers.add("Vary", "Cookie")
    return response


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.before_request(_limit_json)
    app.before_request(_refuse_unstorable_text)
    app.after_request(_headers)
