"""How a gateway says that a message did not go out: try again later, or never.

Every gateway of this package raises one of these two; whoever sends (the notifications'
worker) retries a `TemporaryFailure` with a growing pause and records a `PermanentFailure` as
failed at once. Anything else a gateway lets escape is taken as temporary: an outage nobody
foresaw should not lose a message, and the attempts are bounded anyway.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """The message was not delivered; `retryable` says whether trying again may help."""

    retryable = True

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        #: the gateway's own code for it (an SMTP reply code, an API's status), if any
        self.code = code


class TemporaryFailure(DeliveryError):
    """The gateway could not take it now (unreachable, busy, a 4xx reply): try again later."""

    retryable = True


class PermanentFailure(DeliveryError):
    """The gateway refused it for good (no such mailbox, a number that cannot be reached)."""

    retryable = False
