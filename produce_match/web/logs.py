"""Logs: one line per event, each carrying the id of the request it belongs to.

Every request gets an id: the X-Request-ID its proxy sent (if it looks like one) or a new one.
It is echoed in the response's X-Request-ID header, so that a user's report, the proxy's log,
gunicorn's access log and the app's own lines can be matched. With LOG_FORMAT=json (the default
in production) each line is a JSON object: time, level, logger, message, request_id, and for
the request's own line also method, path, status, duration and user.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = logging.getLogger("produce_match.requests")


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True


#: what must not reach a log line as itself: C0 controls (line breaks, escape sequences that
#: repaint a terminal), DEL, C1 controls and the Unicode line and paragraph separators
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def escape_controls(text: str) -> str:
    """Text with every control character written as an escape (a newline as \\n): whatever a
    user typed, it stays inside the one log line it belongs to."""
    return _CONTROLS.sub(_escaped, text)


class TextFormatter(logging.Formatter):
    """One line per record, with control characters escaped, so that text a user typed (a
    problem's outcome, a path) cannot forge a line. A traceback keeps its lines, each indented,
    so that no line of it can pass for the start of a record."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return self._block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return self._block(super().formatStack(stack_info))

    @staticmethod
    def _block(text: str) -> str:
        return "\n".join("    " + escape_controls(line) for line in text.split("\n"))


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for LOG_FORMAT: one JSON object per line, or one line of text."""
    if log_format == "json":
        return JsonFormatter()
    return TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


class JsonFormatter(logging.Formatter):
    #: attributes every LogRecord has; anything else was passed as `extra` and is kept
    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _configure(app: Flask) -> None:
    root = logging.getLogger("produce_match")
    if any(getattr(h, "_produce_match", False) for h in root.handlers):
        return  # one handler per process, whatever the number of apps (tests make many)
    handler = logging.StreamHandler(sys.stderr)
    handler._produce_match = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    root.propagate = False


def init_app(app: Flask) -> None:
    if not app.testing:
        _configure(app)

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Any) -> Any:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        started = g.get("request_started")
        if started is not None and request.endpoint not in ("static", "web.healthz"):
            from flask_login import current_user

            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": current_user.get_id() if current_user else None,
                },
            )
        return response
