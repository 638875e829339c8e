"""Settings: defaults < OPSLOOM_* environment < the dict; the secret key is generated once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloom.platform.config import load_settings

if TYPE_CHECKING:
    from pathlib import Path


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'opsloom.db'}"
    assert settings["JOBS_MODE"] == "thread"
    assert len(settings["SECRET_KEY"]) >= 32


def test_secret_key_is_kept_under_instance(tmp_path: Path) -> None:
    first = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})["SECRET_KEY"]
    second = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})["SECRET_KEY"]
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_then_dict(tmp_path: Path) -> None:
    environ = {
        "OPSLOOM_DATABASE_URL": "postgresql://db/ops",
        "OPSLOOM_REDIS_URL": "redis://cache:6379/0",
        "OPSLOOM_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
        "OPSLOOM_SECRET_KEY": "from-env",
        "UNRELATED": "x",
    }
    settings = load_settings({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "from-dict"}, environ=environ)
    assert settings["DATABASE_URL"] == "postgresql://db/ops"
    assert settings["JOBS_MODE"] == "external"
    assert settings["LOGIN_MAX_FAILURES_PER_ACCOUNT"] == 3
    assert settings["SECRET_KEY"] == "from-dict"
    assert "UNRELATED" not in settings
