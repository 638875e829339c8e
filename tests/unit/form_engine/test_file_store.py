"""The upload folder: spooling with limits, content addressing, and blobs that follow the transaction."""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from opsloom.form_engine.file_store import FileStore

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_spool_counts_hashes_and_keeps_the_head(tmp_path: Path) -> None:
    data = b"hello world" * 10_000
    spooled = FileStore(tmp_path).spool(io.BytesIO(data), keep=len(data), count_to=len(data))
    assert spooled.size == len(data)
    assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert spooled.head == data[:16]
    assert spooled.path.read_bytes() == data


def test_too_large_is_counted_but_not_kept(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    spooled = store.spool(io.BytesIO(b"x" * 200_000), keep=100_000, count_to=150_000)
    assert not spooled.kept
    assert 150_000 < spooled.size <= 150_000 + 64 * 1024  # reading stopped past count_to
    assert files_under(tmp_path) == []
    exact = store.spool(io.BytesIO(b"x" * 120_000), keep=100_000, count_to=150_000)
    assert exact.size == 120_000
    assert files_under(tmp_path) == []


def test_a_failing_stream_leaves_no_temporary_file(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        FileStore(tmp_path).spool(Broken(), keep=10, count_to=10)
    assert files_under(tmp_path) == []


def test_blob_paths_are_content_addresses_only(tmp_path: Path) -> None:
    digest = "ab" * 32
    assert FileStore(tmp_path).blob_path(digest) == tmp_path / "ab" / "ab" / digest
    with pytest.raises(ValueError, match="sha256"):
        FileStore(tmp_path).blob_path("../../etc/passwd")


def _placed(store: FileStore, session: Session, data: bytes) -> Path:
    return store.place(session, store.spool(io.BytesIO(data), keep=len(data), count_to=len(data)))


def test_a_committed_blob_stays(tmp_path: Path, session: Session) -> None:
    store = FileStore(tmp_path)
    path = _placed(store, session, b"kept")
    session.commit()
    assert path.read_bytes() == b"kept"
    assert files_under(tmp_path) == [path]  # the temporary file is gone


def test_a_rolled_back_blob_goes(tmp_path: Path, session: Session) -> None:
    store = FileStore(tmp_path)
    session.execute(text("SELECT 1"))
    path = _placed(store, session, b"dropped")
    assert path.exists()
    session.rollback()
    assert files_under(tmp_path) == []


def test_a_savepoint_commit_is_not_the_commit(tmp_path: Path, session: Session) -> None:
    store = FileStore(tmp_path)
    path = _placed(store, session, b"inner")
    with session.begin_nested():
        session.execute(text("SELECT 1"))
    session.close()
    assert not path.exists()


def test_a_blob_that_existed_before_is_never_removed(tmp_path: Path, session: Session) -> None:
    store = FileStore(tmp_path)
    path = _placed(store, session, b"shared")
    session.commit()
    again = _placed(store, session, b"shared")
    assert again == path
    session.rollback()
    assert path.read_bytes() == b"shared"
