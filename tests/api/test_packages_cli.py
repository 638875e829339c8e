"""``opsloom app export`` and ``opsloom app import``: packages through the command line, clear errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from opsloom.platform.definitions.commands import register_commands
from tests.conftest import command_line

if TYPE_CHECKING:
    from pathlib import Path

    from flask.testing import FlaskClient

    from tests.conftest import Member


@pytest.fixture
def run(app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``opsloom app ...`` against the test database."""
    return command_line(app_config, monkeypatch, register_commands, "app")


def _crm(client: FlaskClient, admin: Member) -> None:
    h = admin.headers
    client.post("/api/v1/apps", json={"key": "crm", "label": {"en": "CRM", "zh": "客户"}}, headers=h)
    client.put(
        "/api/v1/apps/crm/app/crm", json={"key": "crm", "label": {"en": "CRM", "zh": "客户"}}, headers=h
    )
    assert client.post("/api/v1/apps/crm/app/crm/publish", headers=h).status_code == 200


def test_export_then_import_into_another_workspace(
    run: Any, client: FlaskClient, admin: Member, outsider: Member, tmp_path: Path
) -> None:
    _crm(client, admin)
    out = tmp_path / "crm.json"
    result = run("export", "crm", "--workspace", "acme", "-o", str(out))
    assert result.exit_code == 0, result.output
    package = json.loads(out.read_text(encoding="utf-8"))
    assert package == client.get("/api/v1/apps/crm/export", headers=admin.headers).get_json()
    assert "客户" in out.read_text(encoding="utf-8")

    stdout = run("export", "crm", "--workspace", "acme")
    assert json.loads(stdout.output) == package

    imported = run("import", str(out), "--workspace", "globex")
    assert imported.exit_code == 0, imported.output
    assert "Created app crm" in imported.output
    assert "published app crm version 1" in imported.output
    again = run("import", str(out), "--workspace", "globex")
    assert again.exit_code == 0
    assert "Updated app crm" in again.output
    assert "1 definition(s) unchanged" in again.output
    assert client.get("/api/v1/apps/crm/export", headers=outsider.headers).get_json() == package


def test_import_from_stdin(run: Any, client: FlaskClient, admin: Member, outsider: Member) -> None:
    _crm(client, admin)
    package = client.get("/api/v1/apps/crm/export", headers=admin.headers).get_json()
    result = run("import", "-", "--workspace", "globex", stdin=json.dumps(package))
    assert result.exit_code == 0, result.output


def test_clear_errors_and_non_zero_exits(
    run: Any, client: FlaskClient, admin: Member, outsider: Member, tmp_path: Path, snapshot: Any
) -> None:
    _crm(client, admin)
    before = snapshot()
    missing = run("import", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2
    assert "nope.json" in missing.output

    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    result = run("import", str(bad_json), "--workspace", "globex")
    assert result.exit_code == 1
    assert "is not valid JSON" in result.output

    broken = client.get("/api/v1/apps/crm/export", headers=admin.headers).get_json()
    broken["format"] = "opsloom.app/9"
    broken_file = tmp_path / "broken.json"
    broken_file.write_text(json.dumps(broken))
    result = run("import", str(broken_file), "--workspace", "globex")
    assert result.exit_code == 1
    assert "/format: unsupported package format 'opsloom.app/9'" in result.output

    broken["format"] = "opsloom.app/1"
    broken["definitions"][0]["body"]["label"] = ""
    broken["definitions"][0]["body"]["color"] = "red"
    broken_file.write_text(json.dumps(broken))
    result = run("import", str(broken_file), "--workspace", "globex")
    assert result.exit_code == 1
    lines = [line.strip() for line in result.output.splitlines()]
    assert any(line.startswith("/definitions/0/body/color:") for line in lines)
    assert any(line.startswith("/definitions/0/body/label") for line in lines)

    several = run("import", str(broken_file))
    assert several.exit_code == 1
    assert "--workspace" in several.output
    assert "acme, globex" in several.output

    assert run("import", str(broken_file), "--workspace", "nowhere").exit_code == 1
    unknown = run("export", "nope", "--workspace", "acme")
    assert unknown.exit_code == 1
    assert "no app 'nope'" in unknown.output
    assert snapshot() == before
