"""An offline bank transfer straight to the cooperative's account.

Nothing is remote: the buyer records the transfer, the cooperative (or an official for it)
confirms the money arrived. The money is with the cooperative from the start, so a refund is
a transfer back that the cooperative makes and confirms (`manual`), and the payout is
recorded at once (`direct`): nothing has to move. It sends no notifications.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from produce_match.payments.providers import (
    Created,
    Movement,
    Provider,
    RemotePayment,
    path_for,
)


class TransferProvider(Provider):
    name = "transfer"
    paid_direct = True
    pay_label = _l("Pay by bank transfer")

    def create_payment(
        self,
        *,
        payment_id: int,
        reference: str,
        amount_fen: int,
        currency: str,
        description: str,
        idempotency_key: str,
    ) -> Created:
        return Created(None, path_for("payments.transfer", payment_id=payment_id))

    def query_payment(self, provider_ref: str) -> RemotePayment | None:
        return None  # the cooperative's confirmation is the only source

    def refund(
        self,
        *,
        provider_ref: str | None,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        return Movement("manual", None, amount_fen)

    def payout(
        self,
        *,
        account: str,
        account_name: str,
        amount_fen: int,
        reference: str,
        idempotency_key: str,
    ) -> Movement:
        return Movement("succeeded", f"direct:{reference}", amount_fen)
