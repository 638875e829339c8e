"""The error tree and the public faces (STYLE habits 4 and 5)."""

from __future__ import annotations

import opsloom
import opsloom.platform.errors as errors
import opsloom.plugins


def test_error_tree_statuses() -> None:
    expected = {
        "BadRequest": 400,
        "InvalidCursor": 400,
        "AuthenticationRequired": 401,
        "PermissionDenied": 403,
        "NotFound": 404,
        "Conflict": 409,
        "ValidationError": 422,
        "ExprError": 422,
        "RateLimited": 429,
        "PluginError": 500,
        "OpsloomError": 500,
    }
    for name, status in expected.items():
        cls = getattr(errors, name)
        assert issubclass(cls, errors.OpsloomError)
        assert cls.status == status
    assert sorted(errors.__all__) == sorted(expected)


def test_problem_body_carries_errors_and_context() -> None:
    exc = errors.Conflict("customer 7 was changed; reload it.", current_version=3)
    body = exc.to_problem()
    assert body == {
        "type": "/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "customer 7 was changed; reload it.",
        "current_version": 3,
    }
    invalid = errors.ValidationError("bad", errors={"/fields/0/key": "too long"})
    assert invalid.to_problem()["errors"] == {"/fields/0/key": "too long"}


def test_expr_error_points_at_its_node() -> None:
    exc = errors.ExprError("unknown operator 'frob'", path="/and/1")
    assert exc.path == "/and/1"
    assert exc.errors == {"/and/1": "unknown operator 'frob'"}


def test_public_faces() -> None:
    assert opsloom.__all__ == ["__version__", "create_app"]
    assert opsloom.plugins.__all__ == sorted(opsloom.plugins.__all__)
    assert set(opsloom.plugins.__all__) == {"ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"}
