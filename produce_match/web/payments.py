"""Pages: paying an order, the gateway's return, bank transfers, receipts, money overviews,
the cooperative's bank account, and the providers' notification endpoint."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField

from produce_match import policy, transaction
from produce_match.errors import DomainError
from produce_match.extensions import csrf
from produce_match.inputs import local_target
from produce_match.orders.models import Order
from produce_match.payments import operations as payments
from produce_match.payments import queries, service
from produce_match.payments.models import Method, PaymentInstruction, PaymentState
from produce_match.web.forms import ActionForm, length, optional, required, show_errors
from produce_match.web.qr import qr_svg

bp = Blueprint("payments", __name__)


class TransferForm(FlaskForm):
    payer_account = StringField(
        _l("Sent from (account name and bank)"), validators=[required(), length(120)]
    )
    payer_note = StringField(
        _l("Note (date, bank's reference)"), validators=[optional(), length(300)]
    )


class AccountForm(FlaskForm):
    account_name = StringField(_l("Account holder"), validators=[required(), length(120)])
    bank_name = StringField(_l("Bank and branch"), validators=[required(), length(120)])
    account_number = StringField(_l("Account number"), validators=[required(), length(40)])
    alipay_account = StringField(
        _l("Alipay account (mobile number, e-mail or 2088 user id)"),
        validators=[optional(), length(100)],
    )
    alipay_name = StringField(
        _l("Real name on the Alipay account"), validators=[optional(), length(120)]
    )
    wechat_openid = StringField(_l("WeChat payee's openid"), validators=[optional(), length(64)])
    wechat_name = StringField(_l("WeChat payee's real name"), validators=[optional(), length(60)])


def pay_link(payment: Any) -> str | None:
    """Where the buyer goes to pay a payment: the provider's page, or ours when the provider
    gave a code to scan with a phone (WeChat Pay's weixin:// code_url) that no browser opens."""
    url = payment.pay_url
    if url and url.startswith("weixin://"):
        return url_for("payments.wechat", payment_id=payment.id)
    return url


def _order(order_id: int, action: str = "view_payments") -> Order:
    return policy.load(current_user, action, Order, order_id)


@bp.route("/payments/orders/<int:order_id>")
@login_required
def order_money(order_id: int) -> Any:
    """The payment side of one order: pay, see what was paid, refunded and paid out."""
    order = _order(order_id)
    return render_template("payments/order.html", order=order)


@bp.post("/payments/orders/<int:order_id>/pay")
@login_required
def pay(order_id: int) -> Any:
    """The buyer chooses how to pay; sent on to the gateway's page or the transfer details."""
    order = _order(order_id, "start_payment")
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        started = service.create_payment(current_user, order, request.form.get("method", ""))
    except DomainError as exc:
        return transaction.refused(exc.message, url_for("payments.order_money", order_id=order_id))
    return redirect(pay_link(started) or url_for("payments.receipt", payment_id=started.id))


@bp.route("/payments/<int:payment_id>/wechat")
@login_required
def wechat(payment_id: int) -> Any:
    """WeChat Pay's Native code as a QR code for the buyer's phone, with the amount; the page
    looks again by itself and shows the receipt once WeChat Pay has confirmed the payment (its
    callback, the periodic reconciliation or the "check now" button record it: never this
    page)."""
    payment = service.load_payment(current_user, payment_id)
    if payment.method is not Method.wechatpay or not (payment.pay_url or "").startswith(
        "weixin://"
    ):
        abort(404)
    if payment.status is not PaymentState.pending:
        if payment.status is PaymentState.succeeded:
            flash(_("Payment received. Thank you."), "success")
        return redirect(url_for("payments.receipt", payment_id=payment_id))
    return render_template(
        "payments/wechat.html",
        payment=payment,
        order=payment.order,
        code=qr_svg(payment.pay_url),
    )


@bp.get("/payments/<int:payment_id>/checkout")
def checkout(payment_id: int) -> Any:
    """A payment's checkout link (its token in it): on to the provider's checkout, signed now
    (Alipay's signed request goes stale), or to the receipt once it is paid or closed."""
    try:
        target = service.checkout_url(payment_id, request.args.get("t", ""))
    except DomainError as exc:
        return transaction.refused(exc.message, url_for("payments.receipt", payment_id=payment_id))
    if target is None:
        abort(404)
    return redirect(target)


@bp.route("/payments/<int:payment_id>/return")
@login_required
def returned(payment_id: int) -> Any:
    """Where the gateway sends the buyer back. The browser's return proves nothing, and a page
    never writes: the payment is shown as known. The provider's notification (or the periodic
    reconciliation, or the buyer's "check now" button) records the answer; while it is pending
    the receipt refreshes itself."""
    payment = service.load_payment(current_user, payment_id)
    if payment.status is PaymentState.succeeded:
        flash(_("Payment received. Thank you."), "success")
    elif payment.status is PaymentState.pending:
        flash(
            _("We are waiting for the payment service to confirm your payment."),
            "info",
        )
    return redirect(url_for("payments.receipt", payment_id=payment_id))


@bp.route("/payments/<int:payment_id>")
@login_required
def receipt(payment_id: int) -> Any:
    """A payment and its order's money: the receipt once it succeeded."""
    payment = service.load_payment(current_user, payment_id)
    return render_template(
        "payments/receipt.html",
        payment=payment,
        order=payment.order,
        form=ActionForm(),
    )


@bp.post("/payments/<int:payment_id>/check")
@login_required
def check(payment_id: int) -> Any:
    """Ask the provider now (the button on a pending payment)."""
    payment = service.load_payment(current_user, payment_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    order_id = payment.order_id
    try:
        service.reconcile_payment(payment_id)
    except Exception as exc:  # noqa: BLE001 - the provider is down: say so, change nothing
        transaction.doom()
        current_app.logger.info("check of payment %s failed: %s", payment_id, exc)
        flash(_("The payment service did not answer. Please try again in a minute."), "error")
    return redirect(
        local_target(request.form.get("next")) or url_for("payments.order_money", order_id=order_id)
    )


@bp.route("/payments/<int:payment_id>/transfer", methods=["GET", "POST"])
@login_required
def transfer(payment_id: int) -> Any:
    """Bank transfer: the account and the reference; the buyer records what it sent."""
    payment = service.load_payment(current_user, payment_id)
    if payment.method is not Method.transfer:
        abort(404)
    form = TransferForm()
    if request.method == "POST":
        policy.ensure(current_user, "record_transfer", payment)
        if form.validate_on_submit():
            try:
                payments.record_transfer(
                    current_user, payment, form.payer_account.data, form.payer_note.data or ""
                )
                flash(
                    _("Recorded. The cooperative will confirm when the money arrives."), "success"
                )
                return redirect(url_for("payments.transfer", payment_id=payment_id))
            except DomainError as exc:
                show_errors(form, exc)
    return render_template(
        "payments/transfer.html",
        payment=payment,
        order=payment.order,
        account=payments.payout_account(payment.order.cooperative_org_id),
        form=form,
        action_form=ActionForm(),
        side=queries.side_of(current_user, payment.order),
    )


@bp.post("/payments/<int:payment_id>/transfer/confirm")
@login_required
def confirm_transfer(payment_id: int) -> Any:
    payment = service.load_payment(current_user, payment_id, "confirm_transfer")
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if request.form.get("answer") == "missing":
            payments.reject_transfer(current_user, payment)
            message = _("Recorded: the transfer did not arrive. The buyer may pay again.")
        else:
            payments.confirm_transfer(current_user, payment)
            message = _("Confirmed: the order is paid.")
    except DomainError as exc:
        return transaction.refused(exc.message, url_for("payments.transfer", payment_id=payment_id))
    flash(message, "success")
    return redirect(url_for("payments.transfer", payment_id=payment_id))


@bp.post("/payments/instructions/<int:instruction_id>/done")
@login_required
def refund_sent(instruction_id: int) -> Any:
    """The cooperative sent a transfer's refund back to the buyer."""
    instruction = policy.load(current_user, "confirm_refund", PaymentInstruction, instruction_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    target = url_for("payments.order_money", order_id=instruction.order_id)
    try:
        payments.confirm_manual_refund(current_user, instruction)
    except DomainError as exc:
        return transaction.refused(exc.message, target)
    flash(_("Recorded: the refund was sent."), "success")
    return redirect(target)


@bp.route("/payments/money")
@login_required
def money() -> Any:
    """What the organisation received (cooperative) or paid and got back (buyer), per order."""
    overview = queries.overview(current_user)
    if overview is None:
        abort(404)
    return render_template("payments/money.html", overview=overview)


@bp.route("/payments/account", methods=["GET", "POST"])
@login_required
def account() -> Any:
    """The cooperative's bank account: payouts go there, buyers transfer to it."""
    if current_user.role.value != "cooperative" or current_user.organisation_id is None:
        abort(404)
    existing = payments.payout_account(current_user.organisation_id)
    form = AccountForm(obj=existing)
    if form.validate_on_submit():
        try:
            payments.save_payout_account(
                current_user,
                current_user.organisation_id,
                form.account_name.data,
                form.bank_name.data,
                form.account_number.data,
                form.alipay_account.data,
                form.alipay_name.data,
                wechat_openid=form.wechat_openid.data or "",
                wechat_name=form.wechat_name.data or "",
            )
            flash(_("Bank account saved."), "success")
            return redirect(url_for("payments.account"))
        except DomainError as exc:
            show_errors(form, exc)
    return render_template("payments/account.html", form=form, existing=existing)


@bp.post("/payments/notify/<provider>")
@csrf.exempt
def notify(provider: str) -> Any:
    """A provider's server tells us something. Signed; each event applied once; answers fast."""
    body = request.get_data(cache=True)
    try:
        answer = service.receive_notification(provider, request.headers, body)
    except service.Refused as exc:
        if exc.answer is None:  # no such provider
            return jsonify({"ok": False, "error": str(exc.message)}), 400
        answer = exc.answer
    return current_app.response_class(answer.body, answer.status, dict(answer.headers))


def init_app(app: Any) -> None:
    """The pages."""
    app.register_blueprint(bp)
    app.add_template_global(pay_link)
