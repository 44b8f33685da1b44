"""How many photos an account, and an address, may have decoded in a window."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from produce_match.extensions import db
from produce_match.lots.models import LotPhoto, PhotoUpload
from tests.factories import PASSWORD, jpeg_bytes, make_lot


def token_for(client: FlaskClient, who: str) -> dict[str, str]:
    token = client.post("/api/v1/tokens", json={"login": who, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def upload(client: FlaskClient, lot: Any, headers: dict[str, str], lang: str = "en") -> Any:
    return client.post(
        f"/api/v1/lots/{lot.id}/photos",
        headers={**headers, "Accept-Language": lang},
        data={"photo": (io.BytesIO(jpeg_bytes(64, 64)), "p.jpg")},
    )


def stored(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_account_may_upload_so_many_photos_an_hour(app, client, users):
    app.config["PHOTO_UPLOAD_LIMIT"] = 3
    lot = make_lot(users["coop"])
    headers = token_for(client, "coop")
    for _ in range(3):
        assert upload(client, lot, headers).status_code == 201
    refused = upload(client, lot, headers)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_attempts"
    assert refused.json["error"]["message"] == (
        "Too many photos uploaded. Try again in 60 minutes."
    )
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3601
    chinese = upload(client, lot, headers, lang="zh")
    assert chinese.status_code == 429
    assert chinese.json["error"]["message"] == "上传的照片过多，请 60 分钟后再试。"
    assert stored(LotPhoto) == 3  # nothing of the refused uploads was kept
    # another account is not held back by this one's uploads
    other = make_lot(users["coop2"])
    assert upload(client, other, token_for(client, "coop2")).status_code == 201


def test_an_address_may_upload_so_many_photos_an_hour(app, client, users):
    app.config["PHOTO_IP_UPLOAD_LIMIT"] = 3
    lot, other = make_lot(users["coop"]), make_lot(users["coop2"])
    first, second = token_for(client, "coop"), token_for(client, "coop2")
    assert upload(client, lot, first).status_code == 201
    assert upload(client, lot, first).status_code == 201
    assert upload(client, other, second).status_code == 201
    assert upload(client, other, second).status_code == 429  # the same address
    assert stored(LotPhoto) == 3


def test_a_request_of_several_photos_is_counted_whole(app, users):
    """Six photos of a problem when five are left: none is decoded, nothing is recorded."""
    from produce_match.errors import TooManyAttempts
    from produce_match.monitor import operations as monitor
    from produce_match.monitor.models import Problem, ProblemPhoto

    app.config["PHOTO_UPLOAD_LIMIT"] = 5
    coop = users["coop"]

    def raise_problem(photos: int) -> Any:
        return monitor.raise_problem(
            coop, coop.organisation, "storage", "冷库满了", photos=[jpeg_bytes(32, 32)] * photos
        )

    with pytest.raises(TooManyAttempts):
        raise_problem(6)
    db.session.rollback()
    assert stored(Problem) == 0 and stored(ProblemPhoto) == 0 and stored(PhotoUpload) == 0
    raise_problem(5)
    db.session.commit()
    assert stored(ProblemPhoto) == 5
    assert db.session.scalar(select(func.sum(PhotoUpload.photos))) == 5
