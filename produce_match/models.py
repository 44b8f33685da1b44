"""Every domain's models, imported in one place so that Alembic sees the whole schema."""

from produce_match.accounts.models import ApiToken, LoginFailure, LoginSession, Organisation, User
from produce_match.audit.models import AuditEvent
from produce_match.catalog.models import Region

__all__ = [
    "ApiToken",
    "AuditEvent",
    "LoginFailure",
    "LoginSession",
    "Organisation",
    "Region",
    "User",
]
