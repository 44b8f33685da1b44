"""The sandbox gateway as the site serves it: the same security headers as every other page,
no thread started before a fork, and never in production."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from produce_match.web.security import content_security_policy

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-sandbox-secret-serving"
#: the headers every response of the project carries, whoever answers it
SAME_HEADERS = (
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
)


def _mounted(app_factory: Any, database_url: str, tmp_path: Path) -> Any:
    return app_factory(
        database_url,
        "mounted",
        PAYMENTS_SANDBOX_MOUNT=True,
        PAYMENTS_SANDBOX_SECRET=SECRET,
        PAYMENTS_SANDBOX_DB=str(tmp_path / "gateway.sqlite3"),
    )


def _create(client: Any, return_url: str | None) -> dict[str, Any]:
    response = client.post(
        "/sandbox-gateway/api/payments",
        json={
            "reference": "PMTESTHEADERS",
            "amount_fen": 680_00,
            "currency": "CNY",
            "return_url": return_url,
        },
        headers={"Authorization": f"Bearer {SECRET}", "Idempotency-Key": os.urandom(8).hex()},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def test_the_gateways_pages_carry_the_sites_headers(app_factory, database_url, tmp_path):
    app = _mounted(app_factory, database_url, tmp_path)
    client = app.test_client()
    site = client.get("/login")
    payment = _create(client, "https://shop.example/payments/1/return")
    checkout = client.get(f"/sandbox-gateway/checkout/{payment['id']}")
    assert checkout.status_code == 200
    # the checkout's form posts to the gateway, which sends the buyer back to the shop
    assert checkout.headers["Content-Security-Policy"] == content_security_policy(
        ["https://shop.example"]
    )
    assert "base-uri 'none'" in checkout.headers["Content-Security-Policy"]
    others = [
        checkout,
        client.get("/sandbox-gateway/checkout.css"),
        client.get("/sandbox-gateway/"),
        client.get("/sandbox-gateway/checkout/pay_nothing"),  # 404
        client.post(f"/sandbox-gateway/checkout/{payment['id']}", data={"action": "x"}),  # 400
    ]
    for response in others:
        for name in SAME_HEADERS:
            assert response.headers.get(name) == site.headers[name], (response.request.path, name)
        policy = response.headers["Content-Security-Policy"]
        assert "form-action 'self'" in policy and "base-uri 'none'" in policy, policy
        response.close()  # the stylesheet is a file being streamed
    plain = client.get("/sandbox-gateway/")
    assert plain.headers["Content-Security-Policy"] == content_security_policy([])


def test_the_gateway_sets_hsts_over_https(app_factory, database_url, tmp_path):
    app = _mounted(app_factory, database_url, tmp_path)
    response = app.test_client().get("/sandbox-gateway/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
