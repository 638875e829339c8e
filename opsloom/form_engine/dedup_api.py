"""The duplicate finder and the merge tool over HTTP: ``/api/v1/apps/{app}/records/{entity}/duplicates|merge``.

Thin: parse, call ``dedup.find_duplicates`` / ``dedup.merge_records``, answer. The
service decides permissions (update to see duplicates; update on the kept record and
delete on the merged one to merge) and every refusal is a problem+json.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from opsloom.platform.pagination import parse_limit

from .api import _service, _with_etag
from .dedup import MAX_LIMIT, find_duplicates
from .merge import TAKE_CHOICES, merge_records

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["blp"]

blp = Blueprint("dedup", __name__, description="Likely duplicate records, and merging two records into one.")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class DuplicatesArgsSchema(_Strict):
    limit = fields.Integer(metadata={"description": f"groups per page (1-{MAX_LIMIT}, default 20)"})
    cursor = fields.String(
        validate=validate.Length(max=2000), metadata={"description": "`next_cursor` of the previous page"}
    )


class MergeSchema(_Strict):
    keep = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "id of the record that stays"},
    )
    merge = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "id of the record merged into it (soft-deleted)"},
    )
    take = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(TAKE_CHOICES)),
        load_default=dict,
        metadata={
            "description": 'field key -> "keep" (default) or "merge"; a subtable\'s '
            '"merge" appends the merged record\'s rows'
        },
    )
    keep_version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "the `_version` you saw; stale -> 409"},
    )
    merge_version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "the `_version` you saw; stale -> 409"},
    )


def _entity_first(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 404 for an unknown or foreign app or entity before the request is parsed (no 422 first)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _service(kwargs["app_key"]).model(kwargs["entity"])
        return view(*args, **kwargs)

    return wrapper


@blp.route("/apps/<app_key>/records/<entity>/duplicates")
class Duplicates(MethodView):
    @_entity_first
    @blp.arguments(DuplicatesArgsSchema, location="query", unknown=RAISE)
    @blp.response(
        200,
        description="`{items: [{ids, rule, fields, values, reason, score, truncated}], next_cursor}`; "
        "a page may hold fewer groups than `limit`: follow `next_cursor` until null",
    )
    def get(self, args: dict[str, Any], app_key: str, entity: str) -> dict[str, Any]:
        """Groups of live records that are likely the same (needs update permission on the entity)."""
        service = _service(app_key)
        page = find_duplicates(
            service,
            entity,
            limit=parse_limit(args.get("limit"), default=20, maximum=MAX_LIMIT),
            cursor=args.get("cursor"),
            secret=current_app.config["SECRET_KEY"],
        )
        return {"items": page.items, "next_cursor": page.next_cursor}


@blp.route("/apps/<app_key>/records/<entity>/merge")
class Merge(MethodView):
    @_entity_first
    @blp.arguments(MergeSchema)
    @blp.response(200, description="The kept record after the merge.")
    def post(self, payload: dict[str, Any], app_key: str, entity: str) -> Any:
        """Merge record `merge` into record `keep`: chosen values, re-pointed relations, audit trail."""
        record = merge_records(
            _service(app_key),
            entity,
            payload["keep"],
            payload["merge"],
            take=payload["take"],
            keep_version=payload.get("keep_version"),
            merge_version=payload.get("merge_version"),
        )
        return _with_etag(record)
