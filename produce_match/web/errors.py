"""One place that turns every error into a page (HTML) or the API's error format (JSON).

Nothing here ever shows a stack trace: unexpected errors are logged and answered with 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from produce_match import transaction
from produce_match.api.messages import translate
from produce_match.errors import DomainError, TooManyAttempts
from produce_match.extensions import db

#: stable codes for the API's error format, by HTTP status
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"),
        401: _("Please log in"),
        403: _("Not allowed"),
        404: _("Page not found"),
        405: _("Not allowed"),
        409: _("Conflict"),
        413: _("Too large"),
        422: _("Invalid input"),
        429: _("Too many attempts"),
        500: _("Something went wrong"),
    }


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("You need to log in to see this."),
        403: _("Your account may not do this."),
        404: _("There is nothing at this address. It may have been removed, or the link is wrong."),
        405: _("This address does not accept that kind of request."),
        413: _("What you sent is too large."),
        415: _("Send JSON with Content-Type: application/json."),
        422: _("Some of the input is not valid."),
        429: _("Too many attempts. Wait a little and try again."),
        500: _("An unexpected error occurred. It has been logged; please try again later."),
    }


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(
    status: int,
    message: Any = None,
    *,
    code: str | None = None,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> Any:
    """The response for an error, JSON under /api/, a page elsewhere."""
    message = str(message) if message else _messages().get(status, _titles().get(status, ""))
    if wants_json():
        body = {
            "error": {
                "code": code or HTTP_CODES.get(status, "error"),
                "message": message,
                "fields": {
                    k: [str(m) for m in v] if isinstance(v, list | tuple) else v
                    for k, v in (fields or {}).items()
                },
            }
        }
        if details:  # an error's figures (e.g. below_reference: the price and the reference)
            body["error"]["details"] = details
        return body, status, headers or {}
    title = _titles().get(status, _("Error"))
    page = render_template("errors/error.html", status=status, title=title, message=message)
    return page, status, headers or {}


def _handle_http(exc: HTTPException) -> Any:
    status = exc.code or 500
    # Keep the headers the exception carries (Allow on 405, WWW-Authenticate on 401 ...).
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    data = getattr(exc, "data", None) or {}
    if isinstance(exc, CSRFError):
        return error_response(
            400,
            _(
                "This form has expired or did not come from this site. "
                "Go back, reload the page and try again."
            ),
            code="csrf_failed",
        )
    if "messages" in data:  # webargs (flask-smorest) validation of the request
        fields = _flatten_webargs(data["messages"])
        return error_response(
            422,
            _("Some of the input is not valid."),
            code="validation_error",
            fields=fields,
            headers=headers,
        )
    message = data.get("message") or (exc.description if _own_description(exc) else None)
    return error_response(status, message, code=data.get("code"), headers=headers)


def _own_description(exc: HTTPException) -> bool:
    # Werkzeug's default English descriptions are replaced by our translated ones.
    return bool(exc.description) and exc.description != type(exc).description


def _flatten_webargs(messages: dict[str, Any]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for _location, errors in messages.items():
        if isinstance(errors, dict):
            for name, msgs in errors.items():
                msgs = msgs if isinstance(msgs, list) else [msgs]
                fields[name] = [translate(str(m)) for m in msgs]
    return fields


def _handle_domain(exc: DomainError) -> Any:
    if not transaction.kept():
        # the error status rolls the request back; now already, so that the page renders
        # on a clean session
        db.session.rollback()
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    return error_response(
        exc.status,
        exc.message,
        code=exc.code,
        fields=exc.fields,
        headers=headers,
        details=getattr(exc, "details", None),
    )


def _handle_unexpected(exc: Exception) -> Any:
    if current_app.testing and not current_app.config.get("RENDER_UNEXPECTED_ERRORS"):
        raise exc
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()  # now: the session may be unusable after a failed statement
    return error_response(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(DomainError, _handle_domain)
    app.register_error_handler(Exception, _handle_unexpected)
    app.register_error_handler(InternalServerError, lambda exc: error_response(500))
