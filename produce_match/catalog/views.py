"""Pages: the administrators keep the commodity catalogue."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from produce_match import policy
from produce_match.catalog import operations as catalog
from produce_match.catalog.forms import CommodityForm
from produce_match.catalog.models import Category, Commodity
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.forms import show_errors

bp = Blueprint("catalog", __name__, url_prefix="/admin/catalog")

_SPLIT = re.compile(r"\s*[,，、;；]\s*")


@bp.before_request
def _admins_only() -> None:
    if not policy.admin_area(current_user):
        raise NotFound()


@bp.route("/")
def commodities() -> Any:
    rows = db.session.scalars(select(Commodity).order_by(Commodity.category, Commodity.pinyin))
    return render_template("catalog/commodities.html", commodities=rows)


def _data(form: CommodityForm) -> catalog.CommodityData:
    return catalog.CommodityData(
        code=form.code.data,
        name_zh=form.name_zh.data,
        name_en=form.name_en.data,
        pinyin=form.pinyin.data,
        category=form.category.data,
        shelf_life_days=form.shelf_life_days.data,
        unit=form.unit.data,
        traditional=form.traditional.data,
        synonyms_zh=[s for s in _SPLIT.split(form.synonyms_zh.data or "") if s],
        synonyms_en=[s for s in _SPLIT.split(form.synonyms_en.data or "") if s],
        active=form.active.data,
    )


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:commodity_id>", methods=["GET", "POST"])
def edit(commodity_id: int | None = None) -> Any:
    commodity = policy.load(current_user, "edit", Commodity, commodity_id) if commodity_id else None
    form = CommodityForm()
    if commodity is not None and not form.is_submitted():
        data = catalog.data_of(commodity)
        form.process(
            data=vars(data)
            | {
                "synonyms_zh": "、".join(data.synonyms_zh),
                "synonyms_en": ", ".join(data.synonyms_en),
            }
        )
    elif commodity is None and not form.is_submitted():
        # from the list of produce posted under "other": the name as cooperatives typed it
        form.name_zh.data = request.args.get("name_zh", "")[:40]
        if request.args.get("category") in Category.__members__:
            form.category.data = request.args["category"]
    if form.validate_on_submit():
        try:
            saved = catalog.save_commodity(current_user, commodity, _data(form))
        except ValidationFailed as exc:
            show_errors(form, exc)
        else:
            flash(_("%(name)s is saved.", name=saved.name_zh), "success")
            return redirect(url_for(".commodities"))
    return render_template("catalog/edit.html", form=form, commodity=commodity)
