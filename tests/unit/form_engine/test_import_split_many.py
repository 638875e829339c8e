"""How an import splits a many-relation cell into the names or ids it holds."""

from __future__ import annotations

import pytest

from opsloom.form_engine.import_refs import split_many


@pytest.mark.parametrize(
    ("cell", "parts"),
    [
        ("12, 15", ["12", "15"]),
        ("12\uff0c15", ["12", "15"]),
        ("Acme, Inc.; Beta", ["Acme, Inc.", "Beta"]),
        ("Acme, Inc.;", ["Acme, Inc."]),
        ("甲公司\uff1b乙公司", ["甲公司", "乙公司"]),
        (" ; ; ", []),
        (" , ", []),
    ],
)
def test_split_many(cell: str, parts: list[str]) -> None:
    assert split_many(cell) == parts
