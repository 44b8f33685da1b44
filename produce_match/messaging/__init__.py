"""Messages to the outside world: the gateways that carry text to people and machines (SMS, e-mail,
group robots, partners' webhooks), each behind a small interface chosen by configuration.

This package knows no domain: it is handed a phone number, an address or a URL and what to say;
who is told what, and when, is decided by the domains that call it.
"""
