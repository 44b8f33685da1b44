"""The notification signature shared by the sandbox gateway and the app.

    X-Sandbox-Timestamp: <unix seconds>
    X-Sandbox-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside what is signed, so an old notification cannot be replayed with a new
date; the receiver refuses one older (or newer) than `TOLERANCE` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
SIGNATURE_HEADER = "X-Sandbox-Signature"
#: how far a notification's timestamp may be from the receiver's clock
TOLERANCE = 300


class BadSignature(ValueError):
    """The notification is not from the gateway, was changed, or is too old."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers that sign `body` now (or at `timestamp`)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes) -> None:
    """Raise BadSignature unless `signature` signs `body` at a fresh `timestamp`."""
    if not timestamp or not signature:
        raise BadSignature("missing signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise BadSignature("bad timestamp") from None
    if abs(time.time() - ts) > TOLERANCE:
        raise BadSignature("stale timestamp")
    expected = sign(secret, ts, body)
    # compare_digest: the time taken does not tell an attacker how much of it was right
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise BadSignature("signature mismatch")
