"""The verification tests' world: `users` and a haulier and checkpoint staff in Zhangwu."""

from __future__ import annotations

from typing import Any

import pytest

from produce_match.accounts.models import Role
from tests.factories import make_user

#: a credit code and a resident ID number that add up
CODE = "93210922MA0000001F"
RESIDENT_ID = "11010519491231002X"


@pytest.fixture
def world(users) -> dict[str, Any]:
    users = dict(users)
    users["haulier"] = make_user(
        "haulier", Role.haulier, "彰武顺达物流", province="辽宁", county="彰武"
    )
    users["gate"] = make_user("gate", Role.checkpoint, "彰武县电商办")
    return users
