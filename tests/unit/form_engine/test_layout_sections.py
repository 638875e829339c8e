"""``record_forms.layout_sections``: where the fields of no section go ({"unsectioned": true} or first)."""

from __future__ import annotations

from typing import Any

import pytest

from opsloom.form_engine.record_forms import layout_sections


def _label(value: Any, default: str) -> str:
    if isinstance(value, dict):
        return value.get("en", default)
    return value or default


def _groups(layout: Any, keys: list[str]) -> list[tuple[str | None, list[str]]]:
    return [(s.label, s.items) for s in layout_sections(layout, keys, key=lambda k: k, label=_label)]


KEYS = ["a", "b", "c", "d"]


def test_without_a_marker_the_fields_of_no_section_come_first() -> None:
    layout = [{"label": "One", "fields": ["b"]}, {"label": "Two", "fields": ["c"]}]
    assert _groups(layout, KEYS) == [(None, ["a", "d"]), ("One", ["b"]), ("Two", ["c"])]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (0, [(None, ["a", "d"]), ("One", ["b"]), ("Two", ["c"])]),
        (1, [("One", ["b"]), (None, ["a", "d"]), ("Two", ["c"])]),
        (2, [("One", ["b"]), ("Two", ["c"]), (None, ["a", "d"])]),
    ],
)
def test_the_marker_places_the_fields_of_no_section(at: int, expected: list[Any]) -> None:
    layout: list[dict[str, Any]] = [{"label": "One", "fields": ["b"]}, {"label": "Two", "fields": ["c"]}]
    layout.insert(at, {"unsectioned": True})
    assert _groups(layout, KEYS) == expected


def test_the_first_marker_counts() -> None:
    layout = [
        {"label": "One", "fields": ["b"]},
        {"unsectioned": True},
        {"label": "Two", "fields": ["c"]},
        {"unsectioned": True},
    ]
    assert _groups(layout, KEYS) == [("One", ["b"]), (None, ["a", "d"]), ("Two", ["c"])]


def test_sections_left_out_do_not_count_for_the_place() -> None:
    # One shows nothing (its field is hidden for the role): the fields of no section come first
    layout = [{"label": "One", "fields": ["gone"]}, {"unsectioned": True}, {"label": "Two", "fields": ["c"]}]
    assert _groups(layout, ["a", "c"]) == [(None, ["a"]), ("Two", ["c"])]


def test_no_group_when_every_field_has_a_section() -> None:
    layout = [
        {"label": "One", "fields": ["a", "b"]},
        {"unsectioned": True},
        {"label": "Two", "fields": ["c", "d"]},
    ]
    assert _groups(layout, KEYS) == [("One", ["a", "b"]), ("Two", ["c", "d"])]


def test_a_marker_is_not_a_section_even_with_junk() -> None:
    # a body the schema would refuse still renders: only {"unsectioned": true} is a marker
    layout = [{"label": "One", "fields": ["b"]}, {"unsectioned": "yes", "fields": ["c"]}]
    assert _groups(layout, KEYS) == [(None, ["a", "d"]), ("One", ["b"]), ("", ["c"])]
