"""API tokens: stored hashed, shown once, expiring, revocable, scoped to their workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.auth import service as identity
from opsloom.platform.auth.tokens import hash_token
from opsloom.platform.errors import AuthenticationRequired, NotFound, PermissionDenied, ValidationError
from opsloom.platform.models import ApiToken, AuditEntry, OutboxEvent, User, Workspace

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_hashing(app_config: dict[str, Any]) -> None:
    app_config["PASSWORD_HASH_PROFILE"] = "fast"


@pytest.fixture
def people(app: Flask) -> dict[str, int]:
    """acme: alice (admin), sam (staff); globex: olga (admin)."""
    with app.extensions["opsloom.db"].session_scope() as s:
        ids: dict[str, int] = {}
        for ws_key, members in (
            ("acme", (("alice", "admin"), ("sam", "staff"))),
            ("globex", (("olga", "admin"),)),
        ):
            ws = identity.ensure_workspace(s, key=ws_key, name=ws_key.title())
            ids[ws_key] = ws.id
            for name, role in members:
                user = identity.create_user(s, username=name, password=f"pw-{name}-123456")
                identity.add_member(s, ws, user, role_keys=[role])
                ids[name] = user.id
        return ids


def _actor(s: Session, user_id: int, workspace_id: int) -> Any:
    return identity.actor_for(s, s.get(User, user_id), workspace_id, via="test")


def _issue(
    s: Session, people: dict[str, int], who: str = "alice", ws: str = "acme", **kw: Any
) -> tuple[Any, str]:
    return identity.issue_token(
        s,
        user=s.get(User, people[who]),
        workspace=s.get(Workspace, people[ws]),
        name=kw.pop("name", "ci"),
        now=kw.pop("now", NOW),
        **kw,
    )


def test_only_the_hash_is_stored_and_the_plaintext_is_shown_once(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        token, plaintext = _issue(s, people)
        token_id = token.id
    assert plaintext.startswith("olt_")
    assert len(plaintext) > 40
    with db.session_scope() as s:
        row = s.get(ApiToken, token_id)
        assert row.token_hash == hash_token(plaintext)
        assert len(row.token_hash) == 64
        assert plaintext.startswith(row.prefix)
        assert len(row.prefix) < len(plaintext) // 2
        # the plaintext is nowhere in the database: not in the token row, the audit log or the outbox
        stored = [repr(vars(r)) for r in s.scalars(select(ApiToken))]
        stored += [repr((r.before, r.after)) for r in s.scalars(select(AuditEntry))]
        stored += [repr(r.payload) for r in s.scalars(select(OutboxEvent))]
        assert not any(plaintext in text or plaintext[4:] in text for text in stored)
        audit = s.scalar(select(AuditEntry).where(AuditEntry.object_type == "api_token"))
        assert audit.action == "create"
        assert "token_hash" not in audit.after
        assert s.scalar(select(OutboxEvent.type).where(OutboxEvent.type == "token.issued"))


def test_authenticate_finds_the_token_and_its_user(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        _row, plaintext = _issue(s, people)
    with db.session_scope() as s:
        token, user = identity.authenticate_token(s, plaintext, NOW + timedelta(hours=1))
        assert user.username == "alice"
        assert token.workspace_id == people["acme"]
        assert token.last_used_at is not None


def test_last_used_is_written_at_most_every_five_minutes(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        _row, plaintext = _issue(s, people)
    with db.session_scope() as s:
        identity.authenticate_token(s, plaintext, NOW)
    with db.session_scope() as s:
        token, _user = identity.authenticate_token(s, plaintext, NOW + timedelta(minutes=2))
        assert not s.is_modified(token)
        token, _user = identity.authenticate_token(s, plaintext, NOW + timedelta(minutes=6))
        assert s.is_modified(token)


@pytest.mark.parametrize("plaintext", ["", "nonsense", "olt_" + "x" * 43, "olt_short", "olt_" + "é" * 60])
def test_unknown_or_malformed_tokens_are_refused(app: Flask, people: dict[str, int], plaintext: str) -> None:
    with app.extensions["opsloom.db"].session_scope() as s, pytest.raises(AuthenticationRequired):
        identity.authenticate_token(s, plaintext, NOW)


def test_expired_token_says_so(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        _row, plaintext = _issue(s, people, expires_at=NOW + timedelta(days=1))
    with db.session_scope() as s:
        identity.authenticate_token(s, plaintext, NOW + timedelta(hours=23))
        with pytest.raises(AuthenticationRequired, match="expired"):
            identity.authenticate_token(s, plaintext, NOW + timedelta(days=1))


def test_expiry_must_lie_in_the_future(app: Flask, people: dict[str, int]) -> None:
    with app.extensions["opsloom.db"].session_scope() as s, pytest.raises(ValidationError) as caught:
        _issue(s, people, expires_at=NOW - timedelta(seconds=1))
    assert "expires_at" in caught.value.errors


def test_revoked_token_says_so_and_revoking_twice_is_harmless(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        row, plaintext = _issue(s, people)
        token_id = row.id
    with db.session_scope() as s:
        identity.revoke_token(s, _actor(s, people["alice"], people["acme"]), token_id, now=NOW)
    with db.session_scope() as s:
        with pytest.raises(AuthenticationRequired, match="revoked"):
            identity.authenticate_token(s, plaintext, NOW)
        audits = s.scalars(select(AuditEntry).where(AuditEntry.action == "revoke")).all()
        identity.revoke_token(s, _actor(s, people["alice"], people["acme"]), token_id, now=NOW + timedelta(1))
        assert (
            len(s.scalars(select(AuditEntry).where(AuditEntry.action == "revoke")).all()) == len(audits) == 1
        )


def test_deactivated_user_cannot_use_or_get_tokens(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        _row, plaintext = _issue(s, people, who="sam")
        s.get(User, people["sam"]).is_active = False
    with db.session_scope() as s:
        with pytest.raises(AuthenticationRequired, match="deactivated"):
            identity.authenticate_token(s, plaintext, NOW)
        with pytest.raises(PermissionDenied):
            _issue(s, people, who="sam")


def test_tokens_are_only_for_workspaces_the_user_belongs_to(app: Flask, people: dict[str, int]) -> None:
    with app.extensions["opsloom.db"].session_scope() as s, pytest.raises(PermissionDenied):
        _issue(s, people, who="alice", ws="globex")


def test_revoking_and_listing_respect_owner_and_workspace(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        alice_token = _issue(s, people, who="alice")[0].id
        sam_token = _issue(s, people, who="sam")[0].id
        olga_token = _issue(s, people, who="olga", ws="globex")[0].id
    with db.session_scope() as s:
        alice = _actor(s, people["alice"], people["acme"])
        sam = _actor(s, people["sam"], people["acme"])
        olga = _actor(s, people["olga"], people["globex"])
        assert [t.id for t in identity.list_tokens(s, sam).items] == [sam_token]
        assert {t.id for t in identity.list_tokens(s, alice, all_users=True).items} == {
            alice_token,
            sam_token,
        }
        with pytest.raises(PermissionDenied):
            identity.list_tokens(s, sam, all_users=True)
        # staff cannot touch someone else's token; nobody can reach another workspace's
        with pytest.raises(NotFound):
            identity.revoke_token(s, sam, alice_token, now=NOW)
        with pytest.raises(NotFound):
            identity.revoke_token(s, olga, sam_token, now=NOW)
        with pytest.raises(NotFound):
            identity.revoke_token(s, alice, olga_token, now=NOW)
        # a workspace administrator may revoke a member's token
        assert identity.revoke_token(s, alice, sam_token, now=NOW).revoked_at is not None


def test_token_list_pages_newest_first(app: Flask, people: dict[str, int]) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        ids = [_issue(s, people, name=f"t{i}")[0].id for i in range(5)]
    with db.session_scope() as s:
        alice = _actor(s, people["alice"], people["acme"])
        first = identity.list_tokens(s, alice, limit=3, secret="k")
        second = identity.list_tokens(s, alice, limit=3, cursor=first.next_cursor, secret="k")
        assert [t.id for t in first.items + second.items] == sorted(ids, reverse=True)
        assert second.next_cursor is None


def test_bearer_authentication_gives_the_same_actor_as_a_session_in_one_query(
    app: Flask, people: dict[str, int]
) -> None:
    """The request edge's single-query path agrees with ``actor_for`` on every field."""
    from sqlalchemy import event

    from opsloom.platform.auth.tokens import authenticate_bearer

    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        _token, plaintext = _issue(s, people, who="sam")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with db.session_scope() as s:
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            bearer = authenticate_bearer(s, plaintext, NOW + timedelta(seconds=1), request_id="r1", address="10.0.0.1")
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        session_actor = identity.actor_for(
            s, s.get(User, people["sam"]), people["acme"], via="token", request_id="r1", address="10.0.0.1"
        )
    assert bearer == session_actor
    assert bearer.role_keys == {"staff"}
    assert bearer.workspace_id == people["acme"]
    assert len([sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]) == 1


def test_bearer_of_a_member_removed_from_the_workspace_is_refused(app: Flask, people: dict[str, int]) -> None:
    from opsloom.platform.auth.tokens import authenticate_bearer
    from opsloom.platform.models import Membership

    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        _token, plaintext = _issue(s, people, who="sam")
    with db.session_scope() as s:
        member = s.scalar(select(Membership).where(Membership.user_id == people["sam"]))
        member.is_active = False
    with db.session_scope() as s, pytest.raises(AuthenticationRequired, match="no longer an active member"):
        authenticate_bearer(s, plaintext, NOW, request_id=None, address=None)
