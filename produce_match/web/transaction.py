"""One commit point per request: the web layer, not the view, ends each request's transaction.

Views and API endpoints call operations (which flush, never commit) and render. When the
response is ready, `_end` decides once:

- a GET, HEAD or OPTIONS request never writes: its transaction is rolled back (it began
  read-only, see database.py, so a stray write fails loudly instead of landing);
- a 5xx response (an unexpected exception, a failed commit) is rolled back;
- a request the view marked with `keep()` is committed, even with a 4xx status (a refusal
  that must itself be recorded, such as a failed login attempt);
- a request the view marked with `doom()` is rolled back, whatever its response;
- a 4xx response is rolled back: a DomainError that reached the error handler, a form
  re-rendered with its errors (views answer those with 422);
- anything else is committed, once.

A view that shows form errors after an operation refused (`forms.show_errors`) or that flashes
the refusal and redirects (`refused`) dooms the request, so the refused operation's half-done
work is never committed. A commit that fails becomes the request's error (a 500 that rolls back).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, flash, g, redirect
from werkzeug.wrappers import Response

from produce_match.database import read_only_request
from produce_match.extensions import db

_DOOMED = "transaction_doomed"
_KEPT = "transaction_kept"


def doom() -> None:
    """Roll this request's changes back, now (so that the page shown next reads what is
    stored, not a refused operation's half-done work) and when it ends, whatever its response.
    After `keep()`, the changes stay and are committed."""
    setattr(g, _DOOMED, True)
    if not kept():
        db.session.rollback()


def keep() -> None:
    """Commit this request's changes even if it answers with a 4xx or was doomed (a failed
    login attempt is recorded: it counts towards the limit). A 5xx still rolls back."""
    setattr(g, _KEPT, True)


def kept() -> bool:
    """Whether the view asked with `keep()` to commit even on an error."""
    return bool(g.get(_KEPT, False))


def refused(message: Any, target: str) -> Response:
    """An operation refused a step: roll back what it did, tell the user why, and go back."""
    doom()
    flash(str(message), "error")
    return redirect(target)


def should_commit(status: int) -> bool:
    """Whether the request that answers with `status` commits (see the module's rules)."""
    if read_only_request() or status >= 500:
        return False
    if kept():
        return True
    return not g.get(_DOOMED, False) and status < 400


def _end(response: Response) -> Response:
    if should_commit(response.status_code):
        db.session.commit()
    else:
        db.session.rollback()
    return response


def init_app(app: Flask) -> None:
    """Register the commit point; call it last in the app factory so it runs first of the
    app's after-request hooks (Flask runs them in reverse order): hooks that run after it
    see the request's work committed."""
    app.after_request(_end)
