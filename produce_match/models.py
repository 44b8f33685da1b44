"""Every domain's models, imported in one place so that Alembic sees the whole schema."""

from produce_match.accounts.models import ApiToken, LoginFailure, LoginSession, Organisation, User
from produce_match.audit.models import AuditEvent
from produce_match.catalog.models import Commodity, CommodityName, Region
from produce_match.lots.models import Lot, LotPhoto
from produce_match.orders.models import Order
from produce_match.search.models import SearchOutbox

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Commodity",
    "CommodityName",
    "LoginFailure",
    "LoginSession",
    "Lot",
    "LotPhoto",
    "Order",
    "Organisation",
    "Region",
    "SearchOutbox",
    "User",
]
