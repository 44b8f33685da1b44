"""Notifications: telling people what happened, in their own language, through one door.

`notify()` is the only way anything in the app tells a person something (`notify_members()` is
the same for the members of an organisation's role, in one statement). It writes one in-app
notification per recipient (the inbox at /notifications and the count in the header) in the same
transaction as the change it reports, and hands it to every other configured channel after the
commit (e-mail, SMS and group-chat webhooks plug in as `channels.Channel`s). A notification stores
a stable `kind` and language-neutral `params`; `messages.render` turns them into words when they
are shown, in the reader's language.

Who gets which notice by SMS or e-mail, and when not (groups of notices, each person's channels,
quiet hours, daily limits), is `preferences.py`; the worker's dispatch and sending, with the
delivery log (`models.Delivery`) and its retries, is `tasks.py`.
"""

# who may see and do what to this domain's objects: registered whenever the domain is loaded
from produce_match.notifications import permissions  # noqa: F401, E402
