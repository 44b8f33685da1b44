from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import NumberRange

from produce_match.catalog.models import Category
from produce_match.web.forms import length, optional, required
from produce_match.web.forms.lots import unit_choices

CATEGORY_LABELS = {
    Category.grain: _l("Grain"),
    Category.bean: _l("Beans"),
    Category.vegetable: _l("Vegetables"),
    Category.fruit: _l("Fruit"),
    Category.nut: _l("Nuts"),
    Category.mushroom: _l("Mushrooms"),
    Category.egg: _l("Eggs"),
    Category.honey: _l("Honey"),
    Category.tea: _l("Tea"),
    Category.herb: _l("Medicinal herbs"),
    Category.oilseed: _l("Oilseeds"),
    Category.spice: _l("Spices"),
    Category.other: _l("Other"),
}


def category_choices() -> list[SelectChoice]:
    """The categories, after an empty choice: for a lot of produce not in the catalogue."""
    return [SelectChoice("", _l("Choose…"))] + [
        SelectChoice(c.value, label) for c, label in CATEGORY_LABELS.items()
    ]


class CommodityForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[required(), length(40)],
        description=_l("Stable ASCII name used in files and the API, e.g. black_bean"),
    )
    name_zh = StringField(_l("Chinese name"), validators=[required(), length(40)])
    name_en = StringField(_l("English name"), validators=[required(), length(60)])
    pinyin = StringField(
        _l("Pinyin"),
        validators=[required(), length(120)],
        description=_l("Syllables separated by spaces, ü as v: hei dou, lv dou"),
    )
    traditional = StringField(
        _l("Traditional characters (if different)"), validators=[optional(), length(40)]
    )
    synonyms_zh = StringField(
        _l("Other Chinese names"),
        validators=[optional(), length(400)],
        description=_l("Separated by , or 、: 乌豆、黑大豆"),
    )
    synonyms_en = StringField(_l("Other English names"), validators=[optional(), length(400)])
    category = SelectField(
        _l("Category"), choices=[SelectChoice(c.value, CATEGORY_LABELS[c]) for c in Category]
    )
    shelf_life_days = IntegerField(
        _l("Typical shelf life (days)"),
        validators=[
            required(),
            NumberRange(min=1, max=3650, message=_l("Between 1 and 3650 days.")),
        ],
    )
    unit = SelectField(_l("Usual unit"), choices=unit_choices())
    active = BooleanField(_l("Offered in forms"), default=True)
