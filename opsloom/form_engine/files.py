"""Files of file and image fields: upload (checked, stored by content) and download (permission-checked).

The service shell around the pure rules of ``file_rules`` and the disk of ``file_store``:
it loads the entity, checks the actor's permissions through ``RecordService``, asks the
field type's ``check_upload``, writes the ``StoredFile`` row, the audit entry and the
``file.uploaded`` event in the caller's transaction. Never imports Flask and never
commits; the upload folder and the request limit come in as parameters.

An upload is checked in full before its bytes are kept: it is spooled to a temporary
file (counted and hashed on the way, and dropped as soon as it passes the limit), its
real type is taken from its first bytes or its name, and only then is it moved to its
content-addressed place. A refused upload leaves no row and no file; an accepted one
whose transaction does not commit is removed again by the store.

A file belongs to one (app, entity, field) of one workspace: records of that app refer
to it by id (the file field's ``coerce`` looks it up through ``RecordService``), and its
download needs the right to read that entity and to see that field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from opsloom.platform.audit import record as audit
from opsloom.platform.errors import NotFound, PermissionDenied, ValidationError
from opsloom.platform.events import emit

from .fields.structured import format_size
from .file_access import may_download
from .file_rules import INLINE_TYPES, content_type_for, safe_filename
from .models import StoredFile

if TYPE_CHECKING:
    from pathlib import Path
    from typing import BinaryIO

    from .file_store import FileStore, Spooled
    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["Download", "FileService", "FileTooLarge", "file_ref"]

#: the limit for a plugin's upload field type without ``max_size`` on a server without a request limit
_LAST_RESORT = 2048 * 1024 * 1024


class FileTooLarge(ValidationError):
    """An upload over the field's ``max_size`` or the server's request limit.

    A validation error (it names the field and the limit in ``errors``) that HTTP reports
    as 413 Content Too Large, the status clients and proxies know for this.
    """

    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


@dataclass(frozen=True)
class Download:
    """A file the actor may download: its metadata and where its bytes are."""

    file: StoredFile
    path: Path

    @property
    def inline(self) -> bool:
        """Shown in the browser (raster images, whose type was proven by their bytes) or saved."""
        return self.file.content_type in INLINE_TYPES


def file_ref(row: StoredFile) -> dict[str, Any]:
    """What a record's file field stores, and what the upload answers."""
    return {"id": row.id, "name": row.name, "size": row.size, "content_type": row.content_type}


class FileService:
    """Uploads and downloads of one app's files, for the actor of ``records``, in its transaction."""

    def __init__(self, records: RecordService, store: FileStore, *, max_request: int | None = None) -> None:
        """:param max_request: the server's request size limit (``MAX_CONTENT_LENGTH``); None for none."""
        self.records = records
        self.store = store
        self.max_request = max_request

    # ------------------------------------------------------------------ upload
    def upload_target(self, entity: str, field_key: Any) -> tuple[EntityModel, RuntimeField]:
        """The file field an upload goes to, once the actor may write records of ``entity``.

        Called before the body is read, so a refusal costs no upload.

        :raises NotFound: no published entity ``entity``.
        :raises PermissionDenied: the actor may neither create nor update its records, or
            cannot see the field.
        :raises ValidationError: ``field_key`` is missing or names no file or image field.
        """
        records = self.records
        model = records.model(entity)
        if not (records.can(entity, "create") or records.can(entity, "update")):
            raise PermissionDenied(
                f"Your roles allow you neither to create nor to change {entity} records in app "
                f"{records.app.key!r}, so you cannot upload files for them; ask an administrator.",
            )
        if not isinstance(field_key, str) or not field_key:
            raise ValidationError(
                f"Say which field the file is for: ?field=<key of a file or image field of {entity}>.",
                errors={"field": "is required"},
            )
        field = model.fields.get(field_key)
        if field is None or not callable(getattr(field.type, "check_upload", None)):
            uploadable = sorted(
                k
                for k, f in model.fields.items()
                if callable(getattr(f.type, "check_upload", None)) and _visible(records, model, k)
            )
            choices = ", ".join(uploadable) or "none"
            raise ValidationError(
                f"{entity} has no file or image field {field_key!r} (its file fields: {choices}).",
                errors={"field": f"{field_key!r} is not a file or image field of {entity}"},
            )
        if not _visible(records, model, field_key):
            raise PermissionDenied(
                f"Field {field_key!r} of {entity} is hidden from your roles; you cannot upload files to it.",
                field=field_key,
            )
        return model, field

    def save(
        self, model: EntityModel, field: RuntimeField, filename: str | None, stream: BinaryIO
    ) -> dict[str, Any]:
        """Check and keep one upload for ``field``; returns its ref ``{id, name, size, content_type}``.

        :raises FileTooLarge: (413) over the field's ``max_size`` or the request limit.
        :raises ValidationError: (422) empty, a type the field does not accept, or content
            that contradicts its name (a ``.png`` that is no PNG).
        """
        name = safe_filename(filename)
        limit, reason = self._limit(field)
        spooled = self.store.spool(stream, keep=limit, count_to=max(limit, self.max_request or 0))
        try:
            content_type = self._check(field, name, spooled, limit, reason)
        except BaseException:
            self.store.discard(spooled)
            raise
        session = self.records.session
        self.store.place(session, spooled)
        row = StoredFile(
            workspace_id=self.records.app.workspace_id,
            app_id=self.records.app.id,
            entity_key=model.key,
            field_key=field.key,
            name=name,
            content_type=content_type,
            size=spooled.size,
            sha256=spooled.sha256,
            created_at=self.records.now,
            created_by=self.records.actor.user_id,
        )
        session.add(row)
        session.flush()
        ref = file_ref(row)
        where = {"app": self.records.app.key, "entity": model.key, "field": field.key}
        audit(
            session,
            self.records.actor,
            "upload",
            "file",
            row.id,
            after={**ref, **where, "sha256": row.sha256},
            workspace_id=self.records.app.workspace_id,
            now=self.records.now,
        )
        emit(
            session,
            "file.uploaded",
            payload={**where, "app_id": self.records.app.id, "file": ref},
            workspace_id=self.records.app.workspace_id,
            actor=self.records.actor,
            now=self.records.now,
        )
        return ref

    def _limit(self, field: RuntimeField) -> tuple[int, str]:
        """The most bytes an upload to ``field`` may have, and which limit that is."""
        max_size = getattr(field.type, "max_size", None)
        own = max_size(field.spec) if callable(max_size) else None
        if self.max_request is not None and (own is None or self.max_request < own):
            return self.max_request, "request"
        return (own if own is not None else _LAST_RESORT), "field"

    def _check(self, field: RuntimeField, name: str, spooled: Spooled, limit: int, reason: str) -> str:
        """The upload's real content type; :raises: why the upload cannot go into ``field``."""
        noun = getattr(field.type, "noun", "file")
        if not spooled.kept:
            counted = max(limit, self.max_request or 0)
            shown = (
                format_size(spooled.size) if spooled.size <= counted else f"more than {format_size(counted)}"
            )
            message = (
                f"{name} is {shown}; {noun}s may be at most {format_size(limit)}"
                if reason == "field"
                else f"{name} is {shown}; this server takes uploads of at most {format_size(limit)}"
            )
            raise FileTooLarge(
                f"The {noun} is too large for field {field.key!r}: {message}.",
                errors={field.key: message},
                field=field.key,
                max_size=limit,
            )
        if spooled.size == 0:
            raise ValidationError(
                f"{name} is empty; choose the {noun} again.",
                errors={field.key: f"{name} is empty"},
                field=field.key,
            )
        content_type, contradiction = content_type_for(name, spooled.head)
        problem = contradiction or field.type.check_upload(field.spec, name, content_type, spooled.size)
        if problem:
            raise ValidationError(
                f"The {noun} cannot go into field {field.key!r}: {problem}.",
                errors={field.key: problem},
                field=field.key,
            )
        return content_type

    # ------------------------------------------------------------------ download
    def download(self, file_id: int) -> Download:
        """File ``file_id`` of this app, when the actor may read its entity, see its field and a record holding it.

        See ``file_access``: unless the actor's read scope covers every record or the actor
        uploaded it, a record within the scope must hold the file.

        :raises NotFound: no such file in this app (another workspace's or app's file is
            not found either), its entity is gone, or its bytes are missing from disk.
        :raises PermissionDenied: the actor may not read the entity's records, or the field is hidden.
        """
        records = self.records
        app = records.app
        row = records.session.scalar(
            select(StoredFile).where(
                StoredFile.id == file_id,
                StoredFile.workspace_id == app.workspace_id,
                StoredFile.app_id == app.id,
            )
        )
        if row is None:
            raise NotFound(f"There is no file {file_id} in app {app.key!r}.")
        model = records.model(row.entity_key)
        records.require(row.entity_key, "read")
        if row.field_key not in model.fields and not records.actor.is_admin:
            raise NotFound(
                f"File {file_id} belongs to field {row.field_key!r}, which {row.entity_key} no longer has."
            )
        if not _visible(records, model, row.field_key):
            raise PermissionDenied(
                f"File {file_id} belongs to field {row.field_key!r} of {row.entity_key}, which is hidden from your roles.",
                field=row.field_key,
            )
        if not may_download(records, model, row):
            # as if it did not exist: the id of a file on a record out of scope tells nothing
            raise NotFound(f"There is no file {file_id} in app {app.key!r}.")
        path = self.store.blob_path(row.sha256)
        if not path.is_file():
            raise NotFound(
                f"The content of file {file_id} is missing from the upload folder; tell an administrator."
            )
        return Download(file=row, path=path)


def _visible(records: RecordService, model: EntityModel, field_key: str) -> bool:
    # ``present`` is the record service's one face of the field rules: a hidden field is left out
    return field_key in records.present(model, {field_key: None})
