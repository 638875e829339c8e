"""System timestamps in record JSON: ISO 8601 in UTC with ``Z``, whatever the driver hands back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from opsloom.form_engine.values import stamp_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (datetime(2026, 1, 1, 8, 0, 0, 5), "2026-01-01T08:00:00.000005Z"),  # SQLite: naive UTC
        (datetime(2026, 1, 1, 8, tzinfo=UTC), "2026-01-01T08:00:00Z"),
        (datetime(2026, 1, 1, 8, 0, 0, 120000, tzinfo=ZoneInfo("Etc/UTC")), "2026-01-01T08:00:00.120000Z"),  # psycopg
        (datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))), "2026-01-01T00:00:00Z"),
        (datetime(2026, 7, 1, 9, tzinfo=ZoneInfo("Europe/London")), "2026-07-01T08:00:00Z"),  # summer time
        (datetime(2026, 1, 1, 8, tzinfo=ZoneInfo("Europe/London")), "2026-01-01T08:00:00Z"),  # offset 0, not UTC
    ],
)
def test_stamps_are_utc_with_z(value: datetime | None, expected: str | None) -> None:
    assert stamp_json(value) == expected
