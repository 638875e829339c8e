"""The plugin façade ``opsloom.plugins.api``: its names are pinned, documented, and enough to write a plugin.

The example plugin below is what a third party would ship: a package written only against
the façade, installed with an ``opsloom.plugins`` entry point. The tests write it to disk
with a ``dist-info`` (so ``importlib.metadata`` finds the entry point exactly as for a
``pip install``), start an app that loads entry points, and use what it registered.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

import opsloom.platform.errors as errors_module
import opsloom.plugins.api as api

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

#: the façade's names; a removal or rename is a break of the stability promise. Adding a
#: name means adding it here too (and to docs/plugins.md).
EXPECTED_ALL = [
    "ENTRY_POINT_GROUP",
    "SYSTEM",
    "Actor",
    "AuthenticationRequired",
    "BadRequest",
    "CheckContext",
    "Conflict",
    "DefinitionKind",
    "Event",
    "ExprError",
    "FieldContext",
    "FieldReference",
    "FieldType",
    "FieldValueError",
    "JobContext",
    "NotFound",
    "Operator",
    "OpsloomError",
    "PermissionDenied",
    "PluginError",
    "PublishContext",
    "RateLimited",
    "SchemaContext",
    "TaskContext",
    "TimelineEntry",
    "TimelinePosition",
    "TimelineSource",
    "ValidationError",
    "emit",
    "hookimpl",
    "job",
    "periodic",
    "record_audit",
]


# ---------------------------------------------------------------- the face itself


def test_all_is_pinned_and_sorted() -> None:
    assert api.__all__ == EXPECTED_ALL
    assert api.__all__ == sorted(api.__all__, key=lambda n: (not n.isupper(), n))


def test_every_name_resolves_and_is_documented() -> None:
    for name in api.__all__:
        obj = getattr(api, name)  # AttributeError names the missing one
        if isinstance(obj, type) and issubclass(obj, api.OpsloomError) and not vars(obj).get("__doc__"):
            # the error classes are documented together, in the tree the errors module draws
            assert f" {name} (" in (errors_module.__doc__ or ""), f"{name} is not in the error tree"
        elif isinstance(obj, type) or inspect.isfunction(obj):
            assert (vars(obj).get("__doc__") if isinstance(obj, type) else obj.__doc__), f"{name} has no docstring"
        else:
            # constants and markers (``hookimpl``, ``SYSTEM``) carry no docstring of their own:
            # the module docstring introduces them
            assert name in (api.__doc__ or ""), f"{name} is not introduced in the module docstring"


def test_the_face_re_exports_the_platform_objects_themselves() -> None:
    """Same objects, not copies: ``except api.NotFound`` catches what the platform raises."""
    from opsloom.platform.definitions import DefinitionKind
    from opsloom.platform.errors import NotFound
    from opsloom.platform.events import emit
    from opsloom.platform.expr import Operator
    from opsloom.plugins import hookimpl

    assert api.NotFound is NotFound
    assert api.DefinitionKind is DefinitionKind
    assert api.Operator is Operator
    assert api.emit is emit
    assert api.hookimpl is hookimpl
    for name in api.__all__:
        obj = getattr(api, name)
        # FieldValueError is raised inside a field type's conversion and reported beside the
        # field by the engine; every other exception here is one of the platform's errors
        if isinstance(obj, type) and issubclass(obj, Exception) and obj is not api.FieldValueError:
            assert issubclass(obj, api.OpsloomError), name


@pytest.mark.parametrize(
    "statement",
    [
        "import opsloom.plugins.api",
        "import opsloom; import opsloom.plugins.api",
        "import opsloom.platform.app; import opsloom.plugins.api",
        "import opsloom.plugins.api; import opsloom.platform.app",
    ],
)
def test_importing_the_face_has_no_cycle(statement: str) -> None:
    """In a fresh interpreter, whatever was imported first (a cycle shows up only there)."""
    done = subprocess.run([sys.executable, "-c", statement], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_hookspecs_stay_free_of_the_platform() -> None:
    """``opsloom.plugins`` is below the platform: loading the hookspecs must not load it."""
    code = (
        "import sys, opsloom.plugins, opsloom.plugins.hookspecs;"
        "loaded = sorted(m for m in sys.modules if m.startswith('opsloom.platform'));"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- an example plugin, as shipped

EXAMPLE_PLUGIN = '''
"""Scorecards for ticket triage: an example opsloom plugin written only against ``opsloom.plugins.api``.

It adds a definition kind (``scorecard``: weights per criterion), an expression operator
(``priority_score``) and listens to the events it emits when a scorecard is published.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opsloom.plugins.api import (
    CheckContext,
    DefinitionKind,
    Event,
    Operator,
    PublishContext,
    ValidationError,
    emit,
    hookimpl,
    record_audit,
)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "label", "weights"],
    "properties": {
        "key": {"type": "string"},
        "label": {"type": "string", "minLength": 1},
        "weights": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 10},
        },
    },
}

#: event ids seen by ``opsloom_on_event`` (a real plugin would write them somewhere durable)
SEEN: list[tuple[int, str, dict[str, Any]]] = []


def check(body: dict[str, Any], _context: CheckContext) -> Iterator[tuple[str, str]]:
    """What the schema cannot say: at least one weight must count."""
    if not any(body["weights"].values()):
        yield "/weights", "give at least one criterion a weight above zero"


def on_publish(context: PublishContext) -> None:
    """Audit and announce the new weights in the publishing transaction."""
    body = context.definition.body
    if "frozen" in body["weights"]:
        raise ValidationError("`frozen` is reserved.", errors={"/weights/frozen": "reserved name"})
    record_audit(
        context.session, context.actor, "scorecard_published", "scorecard", context.definition.key,
        after={"weights": body["weights"]}, now=context.now,
    )
    emit(
        context.session, "scorecard.published",
        payload={"key": context.definition.key, "weights": body["weights"]},
        actor=context.actor, now=context.now,
    )
    context.report.append(f"{len(body['weights'])} criteria")


SCORECARD = DefinitionKind(
    name="scorecard",
    plural="scorecards",
    schema=SCHEMA,
    label={"en": "Scorecards", "zh": "评分卡"},
    check=check,
    on_publish=on_publish,
    order=50,
)


def priority_score(impact: float, urgency: float) -> float:
    """Impact times urgency, kept within 1..25 whatever the inputs."""
    return max(1, min(25, impact * urgency))


PRIORITY_SCORE = Operator(
    name="priority_score",
    fn=priority_score,
    min_args=2,
    max_args=2,
    params=("number", "number"),
    returns="number",
    summary="impact x urgency, clamped to 1..25",
)


@hookimpl
def opsloom_register_definition_kinds() -> list[DefinitionKind]:
    return [SCORECARD]


@hookimpl
def opsloom_register_expr_operators() -> list[Operator]:
    return [PRIORITY_SCORE]


@hookimpl
def opsloom_on_event(event: Event) -> None:
    if event.type.startswith("scorecard."):
        SEEN.append((event.id, event.type, event.payload))
'''

DIST = "opsloom-example-scorecards"
MODULE = "opsloom_example_scorecards"


@pytest.fixture
def example_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install the example as a distribution on ``sys.path``, with its ``opsloom.plugins`` entry point."""
    site = tmp_path / "site"
    (site / MODULE).mkdir(parents=True)
    (site / MODULE / "__init__.py").write_text(textwrap.dedent(EXAMPLE_PLUGIN).lstrip())
    info = site / f"{MODULE}-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 1.2.0\n")
    (info / "entry_points.txt").write_text(f"[opsloom.plugins]\nscorecards = {MODULE}\n")
    monkeypatch.syspath_prepend(str(site))
    yield site / MODULE / "__init__.py"
    sys.modules.pop(MODULE, None)


@pytest.fixture
def app_config(app_config: dict[str, Any], example_plugin: Path) -> dict[str, Any]:
    app_config["LOAD_ENTRY_POINTS"] = True
    return app_config


def test_the_example_imports_only_the_face(example_plugin: Path) -> None:
    tree = ast.parse(example_plugin.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    from_opsloom = {m for m in modules if m.split(".")[0] == "opsloom"}
    assert from_opsloom == {"opsloom.plugins.api"}


def test_the_example_loads_through_its_entry_point(app: Flask) -> None:
    from opsloom.platform.plugin_host import get_plugin_host

    host = get_plugin_host(app)
    status = next(s for s in host.statuses if s.name == "scorecards")
    assert status.ok, status.error
    assert (status.source, status.version) == (f"entry point {DIST}", "1.2.0")
    assert status.provides == {"definition_kinds": ["scorecard"], "expr_operators": ["priority_score"]}


def test_its_operator_evaluates_and_is_type_checked(app: Flask) -> None:
    from opsloom.platform.expr import evaluate, infer_type
    from opsloom.platform.plugin_host import get_plugin_host

    registry = get_plugin_host(app).expr_registry
    expr = {"priority_score": [{"var": "impact"}, {"var": "urgency"}]}
    assert evaluate(expr, {"impact": 4, "urgency": 3}, registry=registry) == 12
    assert evaluate(expr, {"impact": 9, "urgency": 9}, registry=registry) == 25
    assert infer_type(expr, {"impact": "number", "urgency": "number"}, registry=registry) == "number"
    with pytest.raises(api.ExprError):
        evaluate({"priority_score": [1]}, {}, registry=registry)


@pytest.fixture
def triage(client: FlaskClient, admin: Member) -> str:
    response = client.post("/api/v1/apps", json={"key": "triage", "label": "Triage"}, headers=admin.headers)
    assert response.status_code == 201, response.get_json()
    return "triage"


def test_saving_a_draft_validates_with_its_schema_and_check(
    client: FlaskClient, admin: Member, triage: str
) -> None:
    url = f"/api/v1/apps/{triage}/scorecards/vip"
    bad = client.put(url, json={"key": "vip", "label": "VIP", "weights": {"impact": 11}}, headers=admin.headers)
    assert bad.status_code == 422, bad.get_json()
    assert "/weights/impact" in bad.get_json()["errors"]
    zero = client.put(url, json={"key": "vip", "label": "VIP", "weights": {"impact": 0}}, headers=admin.headers)
    assert zero.status_code == 422, zero.get_json()
    assert zero.get_json()["errors"] == {"/weights": "give at least one criterion a weight above zero"}
    good = client.put(
        url, json={"key": "vip", "label": "VIP", "weights": {"impact": 3, "urgency": 2}}, headers=admin.headers
    )
    assert good.status_code == 200, good.get_json()


def test_publishing_runs_its_hook_with_audit_and_events(
    app: Flask, client: FlaskClient, admin: Member, triage: str
) -> None:
    from opsloom.platform.jobs import run_jobs
    from opsloom.platform.models import AuditEntry

    url = f"/api/v1/apps/{triage}/scorecards/vip"
    body = {"key": "vip", "label": "VIP", "weights": {"impact": 3, "urgency": 2}}
    assert client.put(url, json=body, headers=admin.headers).status_code == 200
    published = client.post(f"{url}/publish", json={}, headers=admin.headers)
    assert published.status_code in (200, 201), published.get_json()
    assert published.get_json()["report"] == ["2 criteria"]
    with app.extensions["opsloom.db"].session_scope() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "scorecard_published"))
        assert entry is not None
        assert (entry.object_id, entry.after, entry.workspace_id) == ("vip", {"weights": body["weights"]},
                                                                      admin.workspace_id)

    plugin = sys.modules[MODULE]
    plugin.SEEN.clear()
    run_jobs(app, now=datetime.now(UTC))
    assert [(kind, payload["key"]) for _id, kind, payload in plugin.SEEN] == [("scorecard.published", "vip")]

    # an error the hook raises through the façade is the platform's: a 422 and nothing published
    refused = {"key": "vip", "label": "VIP", "weights": {"frozen": 1}}
    assert client.put(url, json=refused, headers=admin.headers).status_code == 200
    response = client.post(f"{url}/publish", json={}, headers=admin.headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"] == {"/weights/frozen": "reserved name"}
