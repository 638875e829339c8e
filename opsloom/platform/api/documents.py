"""The OpenAPI document as one caller sees it: the base document plus what the parts add for their workspace.

flask-smorest builds one document from the mounted blueprints (the *base*). Some routes
are better documented per workspace: the records API has one schema per published
entity, and the entities belong to a workspace's apps. A part documents those through a
*document contributor*, registered on the app with ``add_document_contributor`` when the
app is built (the platform never imports the parts)::

    def contributor(session: Session, actor: Actor) -> Contribution | None:
        rows = ...  # one cheap query: what this workspace serves right now
        return Contribution(fingerprint=tuple(rows), apply=lambda document: ...)

For a caller acting in a workspace, every contributor is asked for its ``Contribution``.
Their fingerprints and the workspace id key a bounded LRU cache of finished documents
(JSON text): on a hit the request costs the contributors' queries and a dictionary
lookup; on a miss the base document is deep-copied once (flask-smorest's spec object is
shared and never mutated) and each ``apply`` adds its paths, schemas and tags to the
copy. A contributor whose answer changes must change its fingerprint (the form engine
uses the served entity versions, so a publish makes a new document without any hook).
Anonymous callers, and callers without a workspace, get the base document.

A contributor that raises is logged and left out, like a failing plugin; the document
built without it is not cached, so the next request tries again.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flask import json

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Mapping

    from flask import Flask
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

__all__ = [
    "Contribution",
    "DocumentContributor",
    "WorkspaceDocuments",
    "add_document_contributor",
    "workspace_documents",
]

log = logging.getLogger("opsloom.api")

EXTENSION = "opsloom.api_documents"
#: finished documents kept per app (a document of a large workspace is a few hundred KB)
DEFAULT_CACHE_SIZE = 32


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one contributor adds to the document of one workspace.

    ``fingerprint`` must change whenever what ``apply`` would add changes (for the same
    workspace); ``apply`` adds paths, components and tags to a private copy of the
    document and may use the caller's database session (it runs inside the request).
    """

    fingerprint: Hashable
    apply: Callable[[dict[str, Any]], None]


class DocumentContributor(Protocol):
    """Called once per document request of a caller acting in a workspace.

    :param session: the request's database session (read only; the caller commits nothing for this).
    :param actor: the caller; ``actor.workspace_id`` is set.
    :return: a ``Contribution``, or ``None`` when there is nothing to add for this caller.
    """

    def __call__(self, session: Session, actor: Actor) -> Contribution | None: ...


class WorkspaceDocuments:
    """The contributors of one app and the documents recently built for workspaces."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.contributors: list[DocumentContributor] = []
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, contributor: DocumentContributor) -> None:
        if contributor not in self.contributors:
            self.contributors.append(contributor)

    def text_for(self, base: Callable[[], Mapping[str, Any]], session: Session, actor: Actor) -> str | None:
        """The JSON text of ``actor``'s document, or ``None`` when it is the base document.

        :param base: gives the base document; called (and deep-copied) only on a cache miss.
        """
        if actor.workspace_id is None or not self.contributors:
            return None
        found: list[Contribution] = []
        complete = True
        for contributor in self.contributors:
            try:
                contribution = contributor(session, actor)
            except Exception:
                complete = False
                self._failed(contributor, session)
                continue
            if contribution is not None:
                found.append(contribution)
        if not found:
            return None
        key = (actor.workspace_id, tuple(c.fingerprint for c in found))
        with self._lock:
            text = self._cache.get(key)
            if text is not None:
                self._cache.move_to_end(key)
                return text
        document = copy.deepcopy(dict(base()))
        for contribution in found:
            try:
                contribution.apply(document)
            except Exception:
                complete = False
                self._failed(contribution.apply, session)
        # flask's encoder, as flask-smorest uses for the base document (it knows dates and decimals)
        text = json.dumps(document, indent=2, sort_keys=False)
        if complete:
            with self._lock:
                self._cache[key] = text
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return text

    def clear(self) -> None:
        """Forget every built document (tests; a contributor whose fingerprint cannot see a change)."""
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _failed(culprit: object, session: Session) -> None:
        log.exception("an OpenAPI document contributor failed and was left out: %r", culprit)
        # a failed query leaves the transaction unusable for the contributors after it
        session.rollback()


def workspace_documents(app: Flask) -> WorkspaceDocuments:
    """The document contributors and cache of ``app`` (made by ``init_api``)."""
    return app.extensions[EXTENSION]


def add_document_contributor(app: Flask, contributor: DocumentContributor) -> None:
    """Let ``contributor`` add to the OpenAPI document served to callers of ``app`` (idempotent).

    Call it while the app is being built (a blueprint's ``record_once`` callback is a good place).
    """
    workspace_documents(app).add(contributor)
