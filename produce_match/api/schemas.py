"""Schemas shared across the API."""

import marshmallow as ma


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "stable machine-readable code"})
    message = ma.fields.String(metadata={"description": "human message in the user's language"})
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "messages per invalid input field"},
    )


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


class PaginationQuerySchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
