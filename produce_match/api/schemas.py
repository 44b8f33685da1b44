"""Schemas shared across the API."""

from typing import Any

import marshmallow as ma


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "stable machine-readable code"})
    message = ma.fields.String(metadata={"description": "human message in the user's language"})
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "messages per invalid input field"},
    )
    details = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={
            "description": "figures of some errors (below_reference: price_fen_per_t, "
            "reference_fen_per_t, reference_source, reference_valid_from, threshold_percent, "
            "percent); absent otherwise"
        },
    )


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


class PaginationQuerySchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


def page_body(page: Any) -> dict[str, Any]:
    """A Flask-SQLAlchemy page as the API's paged lists answer it."""
    return {
        "items": page.items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }
