"""Pages: register, log in and out, one's account, and the administrators' lists."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import NotFound

from produce_match import policy, transaction
from produce_match.accounts import operations as accounts
from produce_match.accounts.models import ApiToken, CodePurpose, Organisation, OrgKind, User
from produce_match.accounts.rules import normalise_phone
from produce_match.catalog import regions
from produce_match.errors import DomainError, TooManyAttempts, ValidationFailed
from produce_match.extensions import db, login_manager
from produce_match.inputs import local_target
from produce_match.transaction import refused
from produce_match.trust import reliability
from produce_match.web.forms import province_choices, show_errors
from produce_match.web.forms.accounts import (
    LoginForm,
    PasswordForm,
    PhoneForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
    TokenForm,
)

bp = Blueprint("accounts", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")

login_manager.login_view = "accounts.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return accounts.user_for_session(session_id)


def _begin_session(user: User) -> None:
    accounts.start_session(
        user, ip=request.remote_addr, user_agent=request.headers.get("User-Agent")
    )
    session.clear()  # a fresh session (and CSRF token) after logging in
    session.permanent = True
    login_user(user)


def _ask_for_code(form: Any, purpose: CodePurpose, user: User | None = None) -> int:
    """A press on 获取验证码: text a code to the form's number. The answer is the same for
    every number (see accounts.request_code); the status is 200, or 422 / 429 with the
    reason on the number's field."""
    try:
        accounts.request_code(
            form.phone.data,
            purpose,
            ip=request.remote_addr or "",
            user=user,
            locale=str(get_locale()),
        )
    except ValidationFailed as exc:
        show_errors(form, exc)
        return 422
    except TooManyAttempts as exc:
        transaction.doom()
        form.phone.errors = [str(exc.message)]
        return 429
    return 200


def _code_sent_note(purpose: CodePurpose) -> str:
    """What the page says once a code was asked for: the same whatever the number's state."""
    minutes = int(current_app.config["SMS_CODE_TTL"].total_seconds() // 60)
    phone = normalise_phone(request.form.get("phone"))
    if purpose is CodePurpose.reset_password:
        return _(
            "If an account uses %(phone)s, we have texted it a code. It is valid for %(n)d "
            "minutes.",
            phone=phone,
            n=minutes,
        )
    return _(
        "We have sent a text message to %(phone)s. Enter the code from it: it is valid for "
        "%(n)d minutes.",
        phone=phone,
        n=minutes,
    )


def _sending_code() -> bool:
    return request.method == "POST" and bool(request.form.get("send_code"))


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    # where the newcomer was going (a lot's order form, from a shared link): back there after
    after = local_target(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(after or url_for("web.index"))
    form = RegisterForm()
    form.province.choices = province_choices()
    counties = regions.counties(form.province.data) if form.province.data else []
    if _sending_code():
        status = _ask_for_code(form, CodePurpose.register)
        note = _code_sent_note(CodePurpose.register) if status == 200 else None
        page = render_template("accounts/register.html", form=form, counties=counties, note=note)
        return page, status
    if form.validate_on_submit():
        data = accounts.Registration(
            kind=OrgKind(form.kind.data),
            org_name=form.org_name.data,
            contact_person=form.contact_person.data,
            phone=form.phone.data,
            password=form.password.data,
            email=form.email.data,
            place=accounts.PlaceInput(
                form.province.data, form.county.data, form.township.data, form.village.data
            ),
            code=form.code.data or "",
        )
        try:
            user = accounts.register(data)
        except ValidationFailed as exc:
            # a wrong code's try is counted (nothing else was written before the refusal)
            transaction.keep()
            show_errors(form, exc)
        else:
            _begin_session(user)
            flash(
                _(
                    "Welcome, %(name)s! Your organisation is registered. An administrator will "
                    "verify it soon.",
                    name=user.name,
                ),
                "success",
            )
            return redirect(after or url_for("web.index"))
    return render_template("accounts/register.html", form=form, counties=counties, note=None)


@bp.route("/password/reset", methods=["GET", "POST"])
def reset_password() -> Any:
    """忘记密码: the number, a code texted to it, a new password."""
    form = ResetPasswordForm()
    if _sending_code():
        status = _ask_for_code(form, CodePurpose.reset_password)
        note = _code_sent_note(CodePurpose.reset_password) if status == 200 else None
        page = render_template(
            "accounts/reset_password.html", form=form, note=note, step2=status == 200
        )
        return page, status
    if form.validate_on_submit():
        try:
            accounts.reset_password(
                form.phone.data,
                form.code.data,
                form.new_password.data or "",
                request.remote_addr or "",
            )
        except ValidationFailed as exc:
            transaction.keep()  # a wrong code's try is counted
            show_errors(form, exc)
        else:
            if current_user.is_authenticated:  # every session ended, this one too
                logout_user()
                session.clear()
            flash(_("Your password is changed. Log in with the new one."), "success")
            return redirect(url_for(".login"))
    step2 = request.method == "POST"
    return render_template("accounts/reset_password.html", form=form, note=None, step2=step2)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                form.login.data, form.password.data, request.remote_addr or ""
            )
        except accounts.InvalidCredentials as exc:
            transaction.keep()  # the failed attempt counts towards the limit
            form.password.errors = [str(exc.message)]
        else:
            _begin_session(user)
            return redirect(local_target(request.args.get("next")) or url_for("web.index"))
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    if current_user.is_authenticated:
        accounts.end_session(current_user, current_user.session_token)
        logout_user()
        session.clear()
        flash(_("You are logged out."), "info")
    return redirect(url_for("web.index"))


def _account_page(**forms: Any) -> str:
    user = current_user
    return render_template(
        "accounts/account.html",
        profile_form=forms.get("profile_form") or ProfileForm(obj=user),
        password_form=forms.get("password_form") or PasswordForm(),
        token_form=forms.get("token_form") or TokenForm(),
        phone_form=forms.get("phone_form") or PhoneForm(phone=user.phone),
        phone_note=forms.get("phone_note"),
        phone_step2=forms.get("phone_step2", False),
        tokens=accounts.tokens_of(user),
        sessions=accounts.live_sessions(user),
        new_token=forms.get("new_token"),
    )


@bp.route("/account")
@login_required
def account() -> Any:
    return _account_page()


@bp.route("/account/profile", methods=["POST"])
@login_required
def update_profile() -> Any:
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            accounts.update_profile(
                current_user, current_user, name=form.name.data, email=form.email.data
            )
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("Your details are saved."), "success")
            return redirect(url_for(".account"))
    return _account_page(profile_form=form), 422


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            _ended, revoked = accounts.change_password(
                current_user,
                current=form.current_password.data,
                new=form.new_password.data,
                keep_session=current_user.session_token,
                ip=request.remote_addr or "",
            )
        except ValidationFailed as exc:
            # keep a wrong current password's failure: it counts towards the limit, as a
            # failed login does (the operation wrote nothing else before refusing)
            transaction.keep()
            show_errors(form, exc)
        else:
            flash(_("Your password is changed. Every other device has been logged out."), "success")
            _tokens_revoked(revoked)
            return redirect(url_for(".account"))
    return _account_page(password_form=form), 422


@bp.route("/account/phone", methods=["POST"])
@login_required
def change_phone() -> Any:
    """A new mobile number (or the present one, to confirm it): a code, then the password."""
    form = PhoneForm()
    if _sending_code():
        status = _ask_for_code(form, CodePurpose.change_phone, current_user)
        note = _code_sent_note(CodePurpose.change_phone) if status == 200 else None
        return _account_page(phone_form=form, phone_note=note, phone_step2=status == 200), status
    if form.validate_on_submit():
        try:
            accounts.change_phone(
                current_user,
                phone_text=form.phone.data,
                code=form.code.data,
                password=form.password.data or "",
                ip=request.remote_addr or "",
            )
        except ValidationFailed as exc:
            transaction.keep()  # a wrong code's or password's try is counted
            show_errors(form, exc)
        except TooManyAttempts as exc:
            return refused(exc.message, url_for(".account", _anchor="mobile"))
        else:
            flash(
                _("Your mobile number is confirmed: %(phone)s.", phone=current_user.phone),
                "success",
            )
            return redirect(url_for(".account", _anchor="mobile"))
    return _account_page(phone_form=form, phone_step2=True), 422


def _tokens_revoked(n: int) -> None:
    if n:
        flash(
            ngettext(
                "%(num)d API token was revoked: programs that used it need a new one.",
                "%(num)d API tokens were revoked: programs that used them need a new one.",
                n,
            ),
            "info",
        )


@bp.route("/account/sessions/revoke-others", methods=["POST"])
@login_required
def revoke_other_sessions() -> Any:
    n, revoked = accounts.end_other_access(current_user, current_user.session_token)
    flash(_("%(n)d other sessions were logged out.", n=n), "success")
    _tokens_revoked(revoked)
    return redirect(url_for(".account"))


@bp.route("/account/tokens/revoke-all", methods=["POST"])
@login_required
def revoke_all_tokens() -> Any:
    revoked = accounts.revoke_tokens(current_user, current_user)
    if revoked:
        _tokens_revoked(revoked)
    else:
        flash(_("You have no API token to revoke."), "info")
    return redirect(url_for(".account", _anchor="tokens"))


@bp.route("/account/tokens", methods=["POST"])
@login_required
def create_token() -> Any:
    policy.ensure(current_user, "create", ApiToken)
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(token_form=form), 422
    _token, raw = accounts.issue_token(current_user, form.name.data)
    return _account_page(new_token=raw)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int) -> Any:
    token = policy.load(current_user, "revoke", ApiToken, token_id)
    accounts.revoke_token(token, current_user)
    flash(_("The token is revoked."), "success")
    return redirect(url_for(".account"))


@bp.route("/organisations/<int:org_id>")
def organisation(org_id: int) -> Any:
    org = policy.load(current_user, policy.VIEW, Organisation, org_id)
    figures = reliability.figures_for(org.id)
    selling = org.kind is OrgKind.cooperative
    return render_template(
        "accounts/organisation.html",
        org=org,
        reliability=figures.seller if selling else figures.buyer,
        selling=selling,
        trades=org.kind in (OrgKind.cooperative, OrgKind.buyer),
        on_time_hours=current_app.config["DISPATCH_ON_TIME_HOURS"],
        show_contact=policy.can(current_user, "view_contact", org),
        can_verify=policy.can(current_user, "verify", org),
    )


# --- administrators ---------------------------------------------------------------------


@admin_bp.before_request
def _admins_only() -> None:
    if not policy.admin_area(current_user):
        raise NotFound()


@admin_bp.route("/organisations")
def organisations() -> Any:
    show = request.args.get("show", "unverified")
    query = db.select(Organisation).order_by(
        Organisation.verified_at.is_not(None), Organisation.id.desc()
    )
    if show == "unverified":
        query = query.where(Organisation.verified_at.is_(None))
    orgs = db.session.scalars(query.limit(500)).all()
    return render_template("admin/organisations.html", orgs=orgs, show=show)


@admin_bp.route("/users")
def users() -> Any:
    q = request.args.get("q", "").strip()[:60]
    return render_template("admin/users.html", users=accounts.find_users(q), q=q)


@admin_bp.route("/users/<int:user_id>/disable", methods=["POST"])
def disable_user(user_id: int) -> Any:
    user = policy.load(current_user, "disable", User, user_id)
    disabled = request.form.get("disabled") == "1"
    try:
        accounts.set_disabled(user, current_user, disabled)
    except DomainError as exc:
        return refused(exc.message, url_for(".users"))
    flash(
        _("%(login)s is disabled.", login=user.login)
        if disabled
        else _("%(login)s is enabled again.", login=user.login),
        "success",
    )
    return redirect(url_for(".users"))
