"""The files API: upload to a file or image field, download a stored file (DESIGN §5, §6).

Thin: read the multipart body and the query, call ``FileService``, shape the answer.
Browser pages use the same routes: a session-authenticated GET needs no token (so
``<img src>`` and download links work), and an upload from a page sends the CSRF
header like any other session-authenticated API write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, request, send_file
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from opsloom.platform.api import current_actor
from opsloom.platform.api.base import accepts_files
from opsloom.platform.db import request_session
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import BadRequest, PermissionDenied, ValidationError

from .fields.structured import format_size
from .file_rules import content_disposition
from .file_store import FileStore
from .files import FileService, FileTooLarge
from .service import RecordService

if TYPE_CHECKING:
    from flask import Response
    from werkzeug.datastructures import FileStorage

    from .model import RuntimeField

__all__ = ["blp"]

blp = Blueprint("files", __name__, description="Files of file and image fields: upload, then download.")

#: the multipart part that carries the file
PART = "file"
#: downloads are documents of their own: no scripts, no plugins, even for an HTML or SVG file opened directly
_DOWNLOAD_CSP = "default-src 'none'; img-src 'self'; sandbox"


class FileRefSchema(Schema):
    """A stored file as a file or image field holds it."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    size = fields.Integer(required=True, metadata={"description": "bytes, as counted on arrival"})
    content_type = fields.String(
        required=True, metadata={"description": "sniffed for images, else from the name"}
    )


def _files(app_key: str) -> FileService:
    actor = current_actor()
    if actor.workspace_id is None:
        raise PermissionDenied("Choose a workspace first: files belong to a workspace's apps.")
    session = request_session()
    app = definitions.get_app(session, actor, app_key)
    return FileService(
        RecordService(session, actor, app),
        FileStore(current_app.config["UPLOAD_FOLDER"]),
        max_request=current_app.config.get("MAX_CONTENT_LENGTH"),
    )


def _one_upload(field: RuntimeField, max_request: int | None) -> FileStorage:
    """The single file of the multipart body; :raises: the body is not one file in part ``file``."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the file as multipart/form-data in a part named {PART!r} "
            f"(got {request.mimetype or 'no content type'})."
        )
    try:
        parts, form = request.files, request.form
    except RequestEntityTooLarge:
        limit = format_size(max_request) if max_request else "the server's limit"
        message = f"the upload is larger than this server accepts (at most {limit})"
        raise FileTooLarge(
            f"The file is too large for field {field.key!r}: {message}.",
            errors={field.key: message},
            field=field.key,
            max_size=max_request,
        ) from None
    unknown = sorted({*parts.keys(), *form.keys()} - {PART})
    if unknown:
        raise ValidationError(
            f"Send only the file, in a part named {PART!r}; unknown part(s): {', '.join(unknown)}.",
            errors=dict.fromkeys(unknown, "unknown part"),
        )
    found = parts.getlist(PART)
    if len(found) != 1:
        raise ValidationError(
            f"Send exactly one file in the part named {PART!r} (got {len(found)}); upload files one at a time.",
            errors={PART: "exactly one file is required"},
        )
    return found[0]


@blp.route("/apps/<app_key>/records/<entity>/files", methods=["POST"])
@accepts_files
@blp.doc(
    parameters=[
        {
            "name": "field",
            "in": "query",
            "required": True,
            "schema": {"type": "string"},
            "description": "The key of the file or image field the file is for.",
        },
    ],
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {PART: {"type": "string", "format": "binary"}},
                    "required": [PART],
                }
            }
        },
    },
)
@blp.response(
    201,
    FileRefSchema,
    description="The file ref `{id, name, size, content_type}` to put into the field's value.",
)
def upload(app_key: str, entity: str) -> dict[str, Any]:
    """Upload one file for a file or image field (413: too large; 422: a type the field does not accept)."""
    unknown = sorted(set(request.args) - {"field"})
    if unknown:
        raise BadRequest(
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            errors=dict.fromkeys(unknown, "unknown parameter"),
        )
    files = _files(app_key)
    model, field = files.upload_target(entity, request.args.get("field"))
    part = _one_upload(field, files.max_request)
    return files.save(model, field, part.filename, part.stream)


@blp.route("/apps/<app_key>/files/<int:file_id>", methods=["GET"])
@blp.doc(
    responses={
        "200": {
            "description": "The file's bytes; images inline, everything else as an attachment.",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
def download(app_key: str, file_id: int) -> Response:
    """Download a file (needs read permission on its entity and sight of its field; 404 outside this app)."""
    found = _files(app_key).download(file_id)
    stored = found.file
    response = send_file(
        found.path,
        mimetype=stored.content_type,
        conditional=True,
        etag=stored.sha256,
        last_modified=stored.created_at,
    )
    # exactly what was stored: werkzeug would add "charset=utf-8" to text types, a guess about bytes it never read
    response.headers["Content-Type"] = stored.content_type
    response.headers["Content-Disposition"] = content_disposition(stored.name, inline=found.inline)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _DOWNLOAD_CSP
    # permissions can change: a browser may keep the bytes but must ask again (the ETag makes that cheap)
    response.cache_control.public = False
    response.cache_control.private = True
    response.cache_control.no_cache = True
    response.cache_control.max_age = None
    return response
