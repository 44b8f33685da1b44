from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from produce_match.extensions import db
from produce_match.partners import operations as partners
from tests.partners.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def add_endpoint(user: Any, url: str, events: list[str]) -> tuple[Any, str]:
    """An endpoint of the user's organisation, committed; (endpoint, secret)."""
    endpoint, secret = partners.create_endpoint(
        user, user.organisation, partners.EndpointInput(url=url, events=events)
    )
    db.session.commit()
    return endpoint, secret
