"""Who may see and change notification settings and the delivery log (see produce_match.policy).

A person reads and changes their own settings and reads their own deliveries; administrators
read every delivery (to see why a notice did not arrive), and change nobody's settings.
"""

from __future__ import annotations

from typing import Any

from produce_match.accounts.models import User
from produce_match.notifications.models import Delivery, NotificationSettings
from produce_match.policy import VIEW, rule


@rule(NotificationSettings)
def _settings(user: User | None, action: str, settings: Any) -> bool:
    if user is None:
        return False
    if isinstance(settings, type):
        return action == "create"  # one's own, the first time
    return settings.user_id == user.id and action in (VIEW, "edit")


@rule(Delivery)
def _delivery(user: User | None, action: str, delivery: Any) -> bool:
    if user is None:
        return False
    if isinstance(delivery, type):
        # "list": one's own log; "list_all": every person's, for administrators
        return action == "list" or (action == "list_all" and user.is_admin)
    return action == VIEW and (delivery.user_id == user.id or user.is_admin)
