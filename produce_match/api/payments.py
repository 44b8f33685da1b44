"""API: paying an order, and reading a payment (its order's parties and oversight only)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest import Blueprint

from produce_match import policy
from produce_match.api.auth import require_user, token_required
from produce_match.extensions import db
from produce_match.orders.models import Order
from produce_match.payments import service
from produce_match.payments.models import Payment
from produce_match.payments.operations import ledger_sums
from produce_match.payments.providers import browser_url, names

blp = Blueprint("api_payments", __name__, description="Payments")


class StartSchema(ma.Schema):
    method = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(names()),  # every registered provider
        metadata={
            "description": "one of PAYMENTS_METHODS: alipay (Alipay's checkout), sandbox (the "
            "hosted checkout) or transfer (bank)"
        },
    )


class StartedSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    pay_url = ma.fields.String(
        allow_none=True, metadata={"description": "where to send the buyer to pay"}
    )


class LedgerSchema(ma.Schema):
    charge = ma.fields.Integer(metadata={"description": "paid by the buyer, fen"})
    refund = ma.fields.Integer(metadata={"description": "refunded to the buyer, fen"})
    payout = ma.fields.Integer(metadata={"description": "paid out to the cooperative, fen"})
    held = ma.fields.Integer(
        metadata={"description": "still held by the platform (online payments), fen"}
    )
    direct = ma.fields.Integer(
        metadata={
            "description": "paid straight to the cooperative (bank transfer) and not yet "
            "settled, fen; never held by the platform"
        }
    )


class PaymentSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    method = ma.fields.Function(lambda p: p.method.value)
    status = ma.fields.Function(lambda p: p.status.value)
    amount_fen = ma.fields.Integer()
    currency = ma.fields.String()
    reference = ma.fields.String()
    pay_url = ma.fields.Function(lambda p: _absolute(p.pay_url))
    receipt_url = ma.fields.Function(
        lambda p: browser_url(url_for("payments.receipt", payment_id=p.id))
    )
    created_at = ma.fields.DateTime()
    succeeded_at = ma.fields.DateTime(allow_none=True)
    order_payment_status = ma.fields.Function(lambda p: p.order.payment_status.value)
    ledger = ma.fields.Function(lambda p: LedgerSchema().dump(ledger_sums(p.order_id)))


def _absolute(url: str | None) -> str | None:
    return browser_url(url) if url and url.startswith("/") else url


@blp.route("/orders/<int:order_id>/payments", methods=["POST"])
@token_required(blp)
@blp.arguments(StartSchema)
@blp.response(201, StartedSchema)
def start_payment(body: dict[str, Any], order_id: int) -> Any:
    """Start paying an order (the buyer): where to send the buyer to pay.

    Repeating the call while a payment of that method is pending answers the same payment.
    The order becomes paid only when the payment side confirms it, never through this call.
    """
    user = require_user()
    order = policy.load(user, "start_payment", Order, order_id)
    started = service.create_payment(user, order, body["method"])
    return {"id": started.id, "status": started.status, "pay_url": _absolute(started.pay_url)}


@blp.route("/payments/<int:payment_id>", methods=["GET"])
@token_required(blp)
@blp.response(200, PaymentSchema)
def get_payment(payment_id: int) -> Payment:
    """A payment, with its order's ledger (its order's parties, officials, administrators)."""
    payment = policy.load(require_user(), policy.VIEW, Payment, payment_id)
    db.session.refresh(payment)
    return payment
