"""Pages of an office: its whitelist (白名单) and its import, the recognition of other offices'
whitelists (互认), and its checkpoint staff's accounts.

Only officials of an office with a jurisdiction use them (anyone else: 403); each acts for the
official's own office. Other offices' whitelists are read-only. An imported spreadsheet is kept
in the upload storage between the preview and the confirmation, under a random name in the
official's own folder, and checked again on confirmation: all its rows are added, or none.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import Forbidden

from produce_match import policy, spreadsheets
from produce_match.accounts import operations as accounts
from produce_match.accounts.models import Organisation, OrgKind, User
from produce_match.dates import local_today
from produce_match.errors import DomainError, ValidationFailed
from produce_match.passes import imports, offices
from produce_match.passes import operations as passes
from produce_match.passes.models import Recognition, WhitelistEntry
from produce_match.storage import delete_after_commit, get_storage
from produce_match.transaction import refused
from produce_match.web.forms import show_errors
from produce_match.web.forms.whitelists import EntryForm, StaffForm, WhitelistUploadForm

bp = Blueprint("whitelists", __name__, url_prefix="/office")

_TOKEN = re.compile(r"[0-9a-f]{32}")


def _office() -> Organisation:
    """The office the official acts for; 403 for anyone else."""
    office = passes.office_of(current_user)
    if office is None or not policy.can(current_user, "create", WhitelistEntry):
        raise Forbidden()
    return office


# --- the whitelist --------------------------------------------------------------------------


def _whitelist_page(office: Organisation, form: EntryForm | None = None) -> Any:
    return render_template(
        "whitelists/index.html",
        office=office,
        entries=offices.whitelist_of(office),
        entry_state=offices.entry_state,
        form=form or EntryForm(formdata=None, valid_from=local_today()),
        suggestions=offices.whitelistable_names(),
        own=True,
    )


@bp.get("/whitelist")
@login_required
def index() -> Any:
    return _whitelist_page(_office())


@bp.post("/whitelist")
@login_required
def add() -> Any:
    office = _office()
    form = EntryForm()
    if form.validate_on_submit():
        data = passes.EntryInput(
            organisation=form.organisation.data,
            valid_from=form.valid_from.data,
            valid_until=form.valid_until.data,
            reason=form.reason.data,
        )
        try:
            entry = passes.add_entry(current_user, data)
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("%(org)s is on the whitelist.", org=entry.organisation.name), "success")
            return redirect(url_for(".index"))
    return _whitelist_page(office, form), 422


@bp.post("/whitelist/<int:entry_id>/remove")
@login_required
def remove(entry_id: int) -> Any:
    _office()
    entry = policy.load(current_user, policy.VIEW, WhitelistEntry, entry_id)
    if not policy.can(current_user, "remove", entry):
        raise Forbidden()
    try:
        passes.remove_entry(current_user, entry)
    except DomainError as exc:
        return refused(exc.message, url_for(".index"))
    flash(_("%(org)s is no longer on the whitelist.", org=entry.organisation.name), "success")
    return redirect(url_for(".index"))


@bp.get("/whitelist/<int:office_id>")
@login_required
def other(office_id: int) -> Any:
    """Another office's whitelist, to read (and decide whether to recognise it)."""
    if not policy.can(current_user, "list", WhitelistEntry) and not current_user.is_admin:
        raise Forbidden()
    office = policy.load(current_user, policy.VIEW, Organisation, office_id)
    if office.kind is not OrgKind.office or office.province_code is None:
        abort(404)
    if office.id == current_user.organisation_id:
        return redirect(url_for(".index"))
    own = passes.office_of(current_user)
    return render_template(
        "whitelists/index.html",
        office=office,
        entries=offices.whitelist_of(office),
        entry_state=offices.entry_state,
        own=False,
        recognised=own is not None and office.id in offices.recognitions_by(own),
    )


# --- importing a whitelist ------------------------------------------------------------------


def _stored_key(user: User, token: str) -> str:
    """The stored file of one of the official's uploads; 404 for any other token."""
    if not _TOKEN.fullmatch(token):
        abort(404)
    storage = get_storage()
    for ext in imports.FORMATS:
        key = f"whitelist-imports/{user.id}/{token}.{ext}"
        if storage.exists(key):
            return key
    abort(404)


def _check(key: str) -> imports.WhitelistReport:
    return imports.check(imports.read_file(key, get_storage().read(key)))


def _columns() -> list[tuple[str, str, bool]]:
    return [(name, imports.title(name), name in imports.REQUIRED) for name in imports.TEMPLATE]


@bp.route("/whitelist/import", methods=["GET", "POST"])
@login_required
def upload() -> Any:
    _office()
    form = WhitelistUploadForm()
    if form.validate_on_submit():
        filename = form.file.data.filename or ""
        data = form.file.data.read(imports.MAX_BYTES + 1)
        try:
            ext = imports.file_format(filename)
            imports.read_file(filename, data)
        except imports.ImportFileError as exc:
            form.file.errors = [*form.file.errors, str(exc.message)]
        else:
            token = secrets.token_hex(16)
            get_storage().save(f"whitelist-imports/{current_user.id}/{token}.{ext}", data)
            return redirect(url_for(".preview", token=token))
    return render_template(
        "whitelists/import_upload.html",
        form=form,
        columns=_columns(),
        max_rows=imports.MAX_ROWS,
    ), 422 if form.errors else 200


@bp.get("/whitelist/import/<token>")
@login_required
def preview(token: str) -> Any:
    _office()
    report = _check(_stored_key(current_user, token))
    return render_template(
        "whitelists/import_preview.html", report=report, token=token, form=FlaskForm()
    )


@bp.post("/whitelist/import/<token>/confirm")
@login_required
def confirm(token: str) -> Any:
    _office()
    key = _stored_key(current_user, token)
    form = FlaskForm()
    report = _check(key)
    if not report.importable:
        flash(_("Some rows have errors: nothing was imported."), "error")
        return render_template(
            "whitelists/import_preview.html", report=report, token=token, form=form
        ), 422
    try:
        added = passes.add_entries(current_user, [row.data for row in report.good])
    except ValidationFailed as exc:  # the database changed since the preview
        return refused(exc.message, url_for(".preview", token=token))
    delete_after_commit(key)
    flash(
        ngettext(
            "%(num)d organisation added to the whitelist.",
            "%(num)d organisations added to the whitelist.",
            len(added),
        ),
        "success",
    )
    return redirect(url_for(".index"))


@bp.get("/whitelist/import/template.csv")
@login_required
def template() -> Any:
    """A CSV with the Chinese headers and an example row."""
    _office()
    today = local_today()
    examples = [
        [
            "彰武顺达物流有限公司",
            today.isoformat(),
            (today + timedelta(days=90)).isoformat(),
            "保供重点运输企业",
        ]
    ]
    body = spreadsheets.to_csv([imports.title(n) for n in imports.TEMPLATE], examples)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="whitelist-template.csv"'},
    )


# --- recognising other offices' whitelists (互认) ---------------------------------------------


@bp.get("/recognitions")
@login_required
def recognitions() -> Any:
    office = _office()
    return render_template(
        "whitelists/recognitions.html",
        office=office,
        others=offices.offices(but=office),
        recognised=offices.recognitions_by(office),
        recognising=offices.recognising(office),
    )


@bp.post("/recognitions")
@login_required
def recognise() -> Any:
    _office()
    other_id = request.form.get("office", type=int)
    if other_id is None:
        abort(404)
    other_office = policy.load(current_user, policy.VIEW, Organisation, other_id)
    try:
        passes.recognise(current_user, other_office)
    except DomainError as exc:
        return refused(exc.message, url_for(".recognitions"))
    flash(_("Your office now recognises the whitelist of %(office)s.", office=other_office.name))
    return redirect(url_for(".recognitions"))


@bp.post("/recognitions/<int:recognition_id>/end")
@login_required
def end_recognition(recognition_id: int) -> Any:
    _office()
    recognition = policy.load(current_user, "remove", Recognition, recognition_id)
    name = recognition.recognised_office.name
    passes.end_recognition(current_user, recognition)
    flash(_("Your office no longer recognises the whitelist of %(office)s.", office=name))
    return redirect(url_for(".recognitions"))


# --- checkpoint staff -----------------------------------------------------------------------


def _staff_page(office: Organisation, form: StaffForm | None = None, **extra: Any) -> Any:
    return render_template(
        "whitelists/staff.html",
        office=office,
        staff=offices.staff_of(office),
        form=form or StaffForm(formdata=None),
        **extra,
    )


@bp.get("/staff")
@login_required
def staff() -> Any:
    return _staff_page(_office())


@bp.post("/staff")
@login_required
def add_staff() -> Any:
    office = _office()
    form = StaffForm()
    if form.validate_on_submit():
        try:
            user = passes.add_staff(current_user, form.name.data, form.phone.data)
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(
                _(
                    "%(name)s's account is made. Tell them to open the login page, press "
                    "“Forgot your password?” and set a password with the code texted to "
                    "%(phone)s.",
                    name=user.name,
                    phone=user.phone,
                ),
                "success",
            )
            return redirect(url_for(".staff"))
    return _staff_page(office, form), 422


@bp.post("/staff/<int:user_id>/disable")
@login_required
def disable_staff(user_id: int) -> Any:
    _office()
    user = policy.load(current_user, "disable", User, user_id)
    disabled = request.form.get("disabled") == "1"
    try:
        accounts.set_disabled(user, current_user, disabled)
    except DomainError as exc:
        return refused(exc.message, url_for(".staff"))
    flash(
        _("%(name)s can no longer log in.", name=user.name)
        if disabled
        else _("%(name)s can log in again.", name=user.name),
        "success",
    )
    return redirect(url_for(".staff"))
