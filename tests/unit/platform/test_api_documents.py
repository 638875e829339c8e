"""Per-workspace OpenAPI documents: contributors, the fingerprint-keyed cache, failures left out."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from opsloom.platform.actor import Actor
from opsloom.platform.api import Contribution, add_document_contributor
from opsloom.platform.api.documents import WorkspaceDocuments

if TYPE_CHECKING:
    import pytest

BASE: dict[str, Any] = {"openapi": "3.0.3", "paths": {"/a": {}}, "components": {"schemas": {"A": {}}}}


class FakeSession:
    def __init__(self) -> None:
        self.rollbacks = 0

    def rollback(self) -> None:
        self.rollbacks += 1


def actor(workspace_id: int | None = 7) -> Actor:
    return Actor(user_id=1, username="alice", workspace_id=workspace_id, via="token")


class Adder:
    """A contributor adding path ``/x/<workspace>``, with a fingerprint the test controls."""

    def __init__(self, fingerprint: Any = "v1") -> None:
        self.fingerprint = fingerprint
        self.asked = 0
        self.applied = 0

    def __call__(self, session: Any, who: Actor) -> Contribution:
        self.asked += 1

        def apply(document: dict[str, Any]) -> None:
            self.applied += 1
            document["paths"][f"/x/{who.workspace_id}"] = {"summary": str(self.fingerprint)}
            document["components"]["schemas"]["A"]["touched"] = True

        return Contribution(fingerprint=self.fingerprint, apply=apply)


def text_for(documents: WorkspaceDocuments, who: Actor, session: Any = None) -> dict[str, Any] | None:
    text = documents.text_for(lambda: BASE, session or FakeSession(), who)
    return None if text is None else json.loads(text)


def test_no_workspace_or_no_contribution_means_the_base_document() -> None:
    documents = WorkspaceDocuments()
    assert text_for(documents, actor()) is None  # no contributors
    adder = Adder()
    documents.add(adder)
    documents.add(adder)  # idempotent
    assert documents.contributors == [adder]
    assert text_for(documents, actor(None)) is None
    assert adder.asked == 0
    documents.contributors[:] = [lambda session, who: None]
    assert text_for(documents, actor()) is None


def test_documents_are_built_on_a_copy_once_per_fingerprint() -> None:
    documents = WorkspaceDocuments()
    adder = Adder()
    documents.add(adder)
    first = text_for(documents, actor())
    assert first is not None
    assert first["paths"]["/x/7"] == {"summary": "v1"}
    assert BASE == {"openapi": "3.0.3", "paths": {"/a": {}}, "components": {"schemas": {"A": {}}}}
    assert text_for(documents, actor()) == first
    assert (adder.asked, adder.applied) == (2, 1)
    assert text_for(documents, actor(8))["paths"].keys() == {"/a", "/x/8"}  # type: ignore[index]
    assert adder.applied == 2
    adder.fingerprint = "v2"  # e.g. a publish
    assert text_for(documents, actor())["paths"]["/x/7"] == {"summary": "v2"}  # type: ignore[index]
    assert adder.applied == 3


def test_the_cache_is_bounded() -> None:
    documents = WorkspaceDocuments(cache_size=2)
    adder = Adder()
    documents.add(adder)
    for workspace in (1, 2, 3):
        text_for(documents, actor(workspace))
    text_for(documents, actor(3))
    assert adder.applied == 3
    text_for(documents, actor(1))  # evicted: the least recently used
    assert adder.applied == 4
    documents.clear()
    text_for(documents, actor(1))
    assert adder.applied == 5


def test_a_failing_contributor_is_left_out_and_not_cached(caplog: pytest.LogCaptureFixture) -> None:
    documents = WorkspaceDocuments()
    adder = Adder()
    calls: list[str] = []

    def broken(session: Any, who: Actor) -> Contribution:
        calls.append("asked")
        raise RuntimeError("boom")

    def broken_apply(session: Any, who: Actor) -> Contribution:
        def apply(document: dict[str, Any]) -> None:
            calls.append("applied")
            raise RuntimeError("bang")

        return Contribution(fingerprint="f", apply=apply)

    documents.add(broken)
    documents.add(adder)
    documents.add(broken_apply)
    session = FakeSession()
    with caplog.at_level(logging.ERROR, logger="opsloom.api"):
        got = text_for(documents, actor(), session)
    assert got is not None
    assert "/x/7" in got["paths"]
    assert session.rollbacks == 2
    assert len([r for r in caplog.records if "contributor failed" in r.getMessage()]) == 2
    text_for(documents, actor(), session)
    assert calls == ["asked", "applied", "asked", "applied"]  # not cached: tried again
    assert adder.applied == 2


def test_contributors_are_registered_on_the_app(app: Any) -> None:
    from opsloom.platform.api.documents import workspace_documents

    adder = Adder()
    add_document_contributor(app, adder)
    assert adder in workspace_documents(app).contributors
