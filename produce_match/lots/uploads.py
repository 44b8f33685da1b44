"""Uploaded photos of every domain (lots, orders, the problem ledger), checked and re-encoded
within limits.

Decoding a photo is the most expensive thing a request can ask of a web worker. `process_photo`
bounds the cost of one photo; a request carries a bounded number of them; and here an account,
and an address, may have only so many photos decoded in a window (`PHOTO_UPLOAD_LIMIT`,
`PHOTO_IP_UPLOAD_LIMIT`, `PHOTO_UPLOAD_WINDOW_SECONDS`). The counts are rows in the database,
as failed logins are, so that every process and every node counts the same. They are written in
the request's transaction: a request refused for a bad photo changes nothing, its count included;
what it cost is what `process_photo` bounds (a header read, or one bounded decode per photo).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.errors import TooManyAttempts, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import PhotoUpload
from produce_match.lots.photos import PhotoRejected, ProcessedPhoto, process_photo


def _address() -> str | None:
    """The client's address (after the trusted proxies), or None outside a request."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:64]


def ensure_uploads_allowed(actor: User, count: int) -> None:
    """Refuse `count` more photos once the account, or the address, has had too many recently."""
    cfg = current_app.config
    window = cfg["PHOTO_UPLOAD_WINDOW"]
    since = utcnow() - window
    address = _address()
    checks = [(PhotoUpload.user_id, actor.id, cfg["PHOTO_UPLOAD_LIMIT"])]
    if address is not None:
        checks.append((PhotoUpload.ip, address, cfg["PHOTO_IP_UPLOAD_LIMIT"]))
    for column, value, limit in checks:
        total, oldest = db.session.execute(
            select(func.coalesce(func.sum(PhotoUpload.photos), 0), func.min(PhotoUpload.at)).where(
                column == value, PhotoUpload.at > since
            )
        ).one()
        if total + count > limit:
            retry = _retry_after(oldest, window) if total else int(window.total_seconds())
            minutes = (retry + 59) // 60
            raise TooManyAttempts(
                _("Too many photos uploaded. Try again in %(n)d minutes.", n=minutes),
                retry_after=retry,
            )


def _retry_after(oldest: datetime, window: timedelta) -> int:
    return max(1, int((oldest + window - utcnow()).total_seconds()) + 1)


def process_uploads(
    actor: User, uploads: Sequence[bytes], *, max_count: int
) -> list[ProcessedPhoto]:
    """Check and re-encode a request's photos, all or none, within the upload limits.

    ValidationFailed (field "photos") for too many photos or one that is unusable,
    TooManyAttempts once the account or the address has uploaded too many lately.
    """
    photos = list(uploads)
    if len(photos) > max_count:
        message = _("At most %(n)d photos.", n=max_count)
        raise ValidationFailed(message, fields={"photos": [message]})
    if not photos:
        return []
    ensure_uploads_allowed(actor, len(photos))
    processed = []
    for data in photos:
        try:
            processed.append(process_photo(data))
        except PhotoRejected as exc:
            raise ValidationFailed(
                exc.message, code=exc.code, fields={"photos": [str(exc.message)]}
            ) from None
    address = _address()
    db.session.add(PhotoUpload(user_id=actor.id, ip=address or "", photos=len(photos)))
    # the counts outlive their window only until the next upload clears them
    db.session.execute(
        delete(PhotoUpload).where(
            PhotoUpload.at < utcnow() - 2 * current_app.config["PHOTO_UPLOAD_WINDOW"]
        )
    )
    return processed
