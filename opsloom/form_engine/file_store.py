"""Uploaded bytes on disk: spooled to a temporary file while counted and hashed, then kept by sha256.

Layout: ``<UPLOAD_FOLDER>/ab/cd/abcd…`` (the sha256 of the content), so the same bytes
uploaded twice are stored once and no client-chosen name ever reaches the file system.
Temporary files live in ``<UPLOAD_FOLDER>/.tmp``, on the same file system, so putting
one in place is a link or a rename, never a copy.

A blob placed for a transaction that does not commit is removed again: ``place`` notes
it in ``session.info``, and two session listeners forget the note when the outermost
transaction commits or delete the blob when it ends any other way (rollback, close). A
blob that existed before is never removed by this, since committed rows point at it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.orm import Session

from .file_rules import HEAD_BYTES

if TYPE_CHECKING:
    from typing import BinaryIO

    from sqlalchemy.orm import SessionTransaction

__all__ = ["FileStore", "Spooled"]

_CHUNK = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: ``session.info`` key: blobs this transaction created, removed unless it commits
_PLACED = "opsloom.placed_files"


@dataclass(frozen=True)
class Spooled:
    """An upload read to the end (or to the counting limit) into a temporary file."""

    path: Path
    #: bytes read; more than the kept limit means the bytes were not kept
    size: int
    #: the first bytes, for sniffing the real type
    head: bytes
    #: sha256 of the content; ``""`` when it was too large to keep
    sha256: str

    @property
    def kept(self) -> bool:
        return bool(self.sha256)


class FileStore:
    """The upload folder: temporary spooling and content-addressed blobs."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def blob_path(self, sha256: str) -> Path:
        """Where the content with hash ``sha256`` lives; :raises ValueError: not a sha256 hex digest."""
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.folder / sha256[:2] / sha256[2:4] / sha256

    def spool(self, stream: BinaryIO, *, keep: int, count_to: int) -> Spooled:
        """Copy ``stream`` to a temporary file, counting and hashing it.

        :param keep: the most bytes that may be kept; past it, writing stops and the
            temporary file is removed at once (nothing too large stays on disk).
        :param count_to: past this many bytes, reading stops too (``size`` then only says
            "more than this"); the real size of a slightly too large file makes a better message.
        """
        temp = self.folder / ".tmp"
        temp.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=temp, prefix="upload-")
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        head = b""
        writing = True
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    size += len(chunk)
                    if writing and size > keep:
                        writing = False
                    if writing:
                        digest.update(chunk)
                        out.write(chunk)
                    elif size > count_to:
                        break
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if not writing:
            path.unlink(missing_ok=True)
        return Spooled(path=path, size=size, head=head, sha256=digest.hexdigest() if writing else "")

    @staticmethod
    def discard(spooled: Spooled) -> None:
        """Remove the temporary file of an upload that was refused."""
        spooled.path.unlink(missing_ok=True)

    def place(self, session: Session, spooled: Spooled) -> Path:
        """Move a checked upload to its blob path; a blob new to disk goes again if ``session`` does not commit."""
        target = self.blob_path(spooled.sha256)
        if not session.in_transaction():
            # the note below lives until a transaction ends: make sure one is running
            session.begin()
        target.parent.mkdir(parents=True, exist_ok=True)
        created = False
        try:
            # link() refuses an existing target, so of two uploads of the same bytes exactly one creates it
            os.link(spooled.path, target)
            created = True
        except FileExistsError:
            pass
        except OSError:
            # file systems without hard links
            if not target.exists():
                os.replace(spooled.path, target)
                created = True
        finally:
            spooled.path.unlink(missing_ok=True)
        if created:
            session.info.setdefault(_PLACED, []).append(target)
        return target


@event.listens_for(Session, "after_commit")
def _keep_placed(session: Session) -> None:
    # fired for savepoints too; only the outermost commit makes the blobs permanent
    if not session.in_nested_transaction():
        session.info.pop(_PLACED, None)


@event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    for path in session.info.pop(_PLACED, ()):
        path.unlink(missing_ok=True)
