"""The structural diff: JSON pointers, keyed lists matched by key, moves reported once."""

from __future__ import annotations

import ast
import pathlib

from opsloom.platform.definitions.diff import diff


def _ops(changes: list[dict]) -> list[tuple[str, str]]:
    return [(c["op"], c["path"]) for c in changes]


def test_equal_documents_have_no_changes() -> None:
    doc = {"a": [1, {"b": None}], "c": {"key": "x"}}
    assert diff(doc, doc) == []


def test_added_removed_and_changed_members() -> None:
    changes = diff({"a": 1, "b": 2, "c": {"d": 1}}, {"a": 1, "c": {"d": 2}, "e": [1]})
    assert changes == [
        {"op": "removed", "path": "/b", "at": "b", "old": 2},
        {"op": "changed", "path": "/c/d", "at": "c.d", "old": 1, "new": 2},
        {"op": "added", "path": "/e", "at": "e", "new": [1]},
    ]


def test_true_is_not_one() -> None:
    assert _ops(diff({"a": 1}, {"a": True})) == [("changed", "/a")]
    assert diff({"a": 1}, {"a": 1}) == []


def test_type_changes_replace_the_value() -> None:
    assert diff({"a": [1]}, {"a": {"x": 1}}) == [
        {"op": "changed", "path": "/a", "at": "a", "old": [1], "new": {"x": 1}}
    ]


def test_plain_lists_compare_by_position() -> None:
    assert _ops(diff({"o": ["a", "b"]}, {"o": ["a", "c", "d"]})) == [("changed", "/o/1"), ("added", "/o/2")]
    assert _ops(diff({"o": ["a", "b", "c"]}, {"o": ["a"]})) == [("removed", "/o/1"), ("removed", "/o/2")]


def test_keyed_lists_match_by_key_so_a_reorder_is_one_move() -> None:
    old = {"fields": [{"key": "name"}, {"key": "email"}, {"key": "city"}, {"key": "phone", "max_length": 20}]}
    new = {"fields": [{"key": "phone", "max_length": 30}, {"key": "name"}, {"key": "email"}, {"key": "city"}]}
    changes = diff(old, new)
    assert changes == [
        {"op": "moved", "path": "/fields/0", "at": "fields[phone]", "from": "/fields/3"},
        {
            "op": "changed",
            "path": "/fields/0/max_length",
            "at": "fields[phone].max_length",
            "old": 20,
            "new": 30,
        },
    ]


def test_keyed_lists_add_and_remove_by_key() -> None:
    old = {"fields": [{"key": "a"}, {"key": "b"}, {"key": "c"}]}
    new = {"fields": [{"key": "a"}, {"key": "c"}, {"key": "d", "type": "text"}]}
    assert diff(old, new) == [
        {"op": "added", "path": "/fields/2", "at": "fields[d]", "new": {"key": "d", "type": "text"}},
        {"op": "removed", "path": "/fields/1", "at": "fields[b]", "old": {"key": "b"}},
    ]


def test_pointers_are_escaped() -> None:
    assert _ops(diff({"a/b": 1, "m~": 1}, {"a/b": 2, "m~": 2})) == [("changed", "/a~1b"), ("changed", "/m~0")]


def test_root_change() -> None:
    assert diff(1, 2) == [{"op": "changed", "path": "", "at": "/", "old": 1, "new": 2}]


def test_diff_is_pure() -> None:
    """The diff imports only the standard library (STYLE habit 1)."""
    source = pathlib.Path(diff.__code__.co_filename).read_text()
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert modules <= {"__future__", "typing"}
