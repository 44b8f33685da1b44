"""Every domain's models, imported in one place so that Alembic sees the whole schema."""

from produce_match.accounts.models import ApiToken, LoginFailure, LoginSession, Organisation, User
from produce_match.audit.models import AuditEvent
from produce_match.catalog.models import Commodity, CommodityName, Region
from produce_match.demands.models import Demand
from produce_match.lots.models import Lot, LotPhoto
from produce_match.matching.models import AlertSetting, MatchAlert, Proposal
from produce_match.monitor.models import FollowUp, Problem, ProblemPhoto, ReferencePrice
from produce_match.notifications.models import Notification
from produce_match.orders.models import Order, OrderPhoto
from produce_match.partners.models import (
    DeliveryAttempt,
    Endpoint,
    LotAtRisk,
    OutgoingDelivery,
    Robot,
)
from produce_match.passes.models import (
    Checkpoint,
    PassCounter,
    PassScan,
    Recognition,
    Suspension,
    TransportPass,
    WhitelistEntry,
)
from produce_match.payments.models import (
    LedgerEntry,
    Payment,
    PaymentEvent,
    PaymentInstruction,
    PayoutAccount,
)
from produce_match.rescue.models import Donation, RescueProposal
from produce_match.search.models import SearchDocument, SearchOutbox, SearchWord
from produce_match.sharing.models import ShareAttribution, ShareLink, ShareVisit
from produce_match.trust.models import IdentityClaim, Rating

__all__ = [
    "Donation",
    "IdentityClaim",
    "Rating",
    "RescueProposal",
    "WhitelistEntry",
    "TransportPass",
    "Suspension",
    "Recognition",
    "PassScan",
    "PassCounter",
    "Checkpoint",
    "AlertSetting",
    "ApiToken",
    "AuditEvent",
    "Commodity",
    "CommodityName",
    "OutgoingDelivery",
    "DeliveryAttempt",
    "Demand",
    "Endpoint",
    "FollowUp",
    "LedgerEntry",
    "LoginFailure",
    "LoginSession",
    "Lot",
    "LotAtRisk",
    "LotPhoto",
    "MatchAlert",
    "Notification",
    "Order",
    "OrderPhoto",
    "Organisation",
    "Problem",
    "ProblemPhoto",
    "Proposal",
    "ReferencePrice",
    "Payment",
    "PaymentEvent",
    "PaymentInstruction",
    "PayoutAccount",
    "Region",
    "Robot",
    "SearchDocument",
    "SearchOutbox",
    "SearchWord",
    "ShareAttribution",
    "ShareLink",
    "ShareVisit",
    "User",
]
