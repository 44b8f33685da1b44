"""Every domain's tasks and timers, imported so that the queue knows them (see queue.py)."""

from produce_match.accounts import tasks as accounts_tasks
from produce_match.lots import tasks as lots_tasks
from produce_match.matching import tasks as matching_tasks
from produce_match.monitor import tasks as monitor_tasks
from produce_match.notifications import tasks as notifications_tasks
from produce_match.orders import tasks as orders_tasks
from produce_match.partners import tasks as partners_tasks
from produce_match.passes import tasks as passes_tasks
from produce_match.payments import tasks as payments_tasks
from produce_match.rescue import tasks as rescue_tasks
from produce_match.search import tasks as search_tasks
from produce_match.sharing import tasks as sharing_tasks

__all__ = [
    "accounts_tasks",
    "lots_tasks",
    "matching_tasks",
    "monitor_tasks",
    "notifications_tasks",
    "orders_tasks",
    "partners_tasks",
    "passes_tasks",
    "payments_tasks",
    "rescue_tasks",
    "search_tasks",
    "sharing_tasks",
]
