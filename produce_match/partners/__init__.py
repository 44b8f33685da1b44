"""Partners and groups: outgoing webhooks per organisation (lots posted and at risk, every step
of an order) and the offices' chat-group robots (WeChat Work, DingTalk: new urgent lots and a
daily at-risk summary), with one delivery log, retries with back-off and replay.

It listens to the domains' typed events (lots, orders) and uses the officials' notion of a lot
at risk (monitor), so it stands above them; the posting itself is in messaging/webhooks.py."""

from produce_match.partners import permissions  # noqa: F401 (registers the policy's rules)
