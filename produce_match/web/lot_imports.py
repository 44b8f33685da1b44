"""Pages: importing a spreadsheet of lots (upload, preview with the errors marked, confirm).

The uploaded file is kept in the upload storage between the preview and the confirmation, under
a random name in the user's own folder, and checked again on confirmation: the database may have
changed in between. It is deleted once the import is committed.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField

from produce_match import policy, spreadsheets
from produce_match.accounts.models import Role, User
from produce_match.catalog import regions
from produce_match.dates import local_today
from produce_match.lots import imports
from produce_match.lots.models import Lot
from produce_match.storage import delete_after_commit, get_storage

bp = Blueprint("lots_import", __name__)

#: the most rows one upload takes; longer files go through `flask lots import`, since checking
#: and importing them would outlast a web request
MAX_ROWS = 5000
_TOKEN = re.compile(r"[0-9a-f]{32}")


class UploadForm(FlaskForm):
    """The spreadsheet to import."""

    file = FileField(
        _l("Spreadsheet (.csv, .xlsx or .jsonl)"),
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(list(imports.FORMATS), _l("Upload a .csv, .xlsx or .jsonl file.")),
        ],
        render_kw={"accept": ".csv,.xlsx,.jsonl"},
    )


class ConfirmForm(FlaskForm):
    """Importing what the preview showed."""

    skip_invalid = BooleanField(_l("Skip the rows with errors and import the others"))


def _importer() -> User:
    policy.ensure(current_user, "import", Lot)
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _stored_key(user: User, token: str) -> str:
    """The stored file of one of the user's uploads; 404 for any other token."""
    if not _TOKEN.fullmatch(token):
        abort(404)
    storage = get_storage()
    for ext in imports.FORMATS:
        key = f"imports/{user.id}/{token}.{ext}"
        if storage.exists(key):
            return key
    abort(404)


def _check(user: User, key: str) -> imports.ImportReport:
    return imports.check(imports.read_file(key, get_storage().read(key)), user)


def _columns(user: User) -> list[tuple[str, str, bool]]:
    """(English name, Chinese header, required) of every column, for the explanation."""
    required = imports.required_columns(user)
    return [
        (name, imports.column_title(name, chinese=True), name in required)
        for name in imports.COLUMNS
    ]


@bp.route("/lots/import", methods=["GET", "POST"])
@login_required
def upload() -> Any:
    user = _importer()
    form = UploadForm()
    if form.validate_on_submit():
        filename = form.file.data.filename or ""
        data = form.file.data.read()
        try:
            ext = imports.file_format(filename)
            rows = imports.read_file(filename, data)
        except imports.ImportFileError as exc:
            form.file.errors = [*form.file.errors, str(exc.message)]
        else:
            if len(rows) > MAX_ROWS:
                form.file.errors = [
                    *form.file.errors,
                    ngettext(
                        "The file has more than %(num)d row. Split it, or ask the administrators "
                        "to import it.",
                        "The file has more than %(num)d rows. Split it, or ask the "
                        "administrators to import it.",
                        MAX_ROWS,
                    ),
                ]
            else:
                token = secrets.token_hex(16)
                get_storage().save(f"imports/{user.id}/{token}.{ext}", data)
                return redirect(url_for(".preview", token=token))
    return render_template(
        "lots/import_upload.html", form=form, columns=_columns(user), max_rows=MAX_ROWS
    ), 422 if form.errors else 200


@bp.route("/lots/import/<token>")
@login_required
def preview(token: str) -> Any:
    user = _importer()
    report = _check(user, _stored_key(user, token))
    return render_template(
        "lots/import_preview.html", report=report, token=token, form=ConfirmForm()
    )


@bp.route("/lots/import/<token>/confirm", methods=["POST"])
@login_required
def confirm(token: str) -> Any:
    user = _importer()
    key = _stored_key(user, token)
    form = ConfirmForm()
    form.validate_on_submit()  # only the CSRF token to check, and CSRFProtect has done it
    report = _check(user, key)
    skip = bool(form.skip_invalid.data)
    if not report.importable or (report.bad and not skip):
        if report.importable:
            flash(
                _(
                    "Some rows have errors. Correct the file and upload it again, or tick "
                    "“skip the rows with errors”."
                ),
                "error",
            )
        else:
            flash(_("Nothing can be imported from this file."), "error")
        return render_template(
            "lots/import_preview.html", report=report, token=token, form=form
        ), 422
    skipped = len(report.bad)
    count = imports.apply(report, user, skip_invalid=skip)
    delete_after_commit(key)
    message = ngettext("%(num)d lot imported.", "%(num)d lots imported.", count)
    if skipped:
        message += " " + ngettext(
            "%(num)d row with errors skipped.", "%(num)d rows with errors skipped.", skipped
        )
    flash(message, "success")
    if user.role is Role.cooperative:
        return redirect(url_for("lots.mine"))
    return redirect(url_for("lots.browse"))


@bp.route("/lots/import/template.csv")
@login_required
def template() -> Any:
    """A CSV with the Chinese headers and two example rows, in the user's own place."""
    user = _importer()
    org = user.organisation
    province = org.province if org is not None else None
    county = org.county if org is not None else None
    if province is not None and county is None:  # a province's office: one of its counties
        county = next(iter(regions.counties(province.code)), None)
    coop = org.name if user.role is Role.cooperative and org is not None else "示例村果蔬专业合作社"
    where = [province.short_name if province else "辽宁", county.short_name if county else "彰武"]
    today = local_today()
    names = [
        "cooperative",
        "title",
        "commodity",
        "variety",
        "grade",
        "quantity",
        "unit",
        "price",
        "price_unit",
        "province",
        "county",
        "township",
        "village",
        "available_from",
        "spoil_by",
        "storage_notes",
        "description",
        "contact_person",
        "phone",
        "settlement_terms",
        "holdback_percent",
    ]
    examples = [
        [
            coop,
            "",
            "黑豆",
            "黑珍珠",
            "一等",
            "40",
            "吨",
            "6.8",
            "公斤",
            *where,
            "",
            "",
            today.isoformat(),
            (today + timedelta(days=60)).isoformat(),
            "干燥仓库",
            "今年新豆，颗粒饱满",
            "张三",
            "13800138000",
            "两者皆可",
            "5",
        ],
        [
            coop,
            "",
            "大白菜",
            "",
            "统货",
            "20000",
            "斤",
            "0.6",
            "斤",
            *where,
            "",
            "",
            today.isoformat(),
            (today + timedelta(days=20)).isoformat(),
            "地窖",
            "",
            "张三",
            "13800138000",
            "收货后结算",
            "",
        ],
    ]
    # the cooperative's own name goes in: written as every spreadsheet cell is, never a formula
    body = spreadsheets.to_csv([imports.column_title(n, chinese=True) for n in names], examples)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="lots-import-template.csv"'},
    )
