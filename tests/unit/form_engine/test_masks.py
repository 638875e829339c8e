"""Masks: each style's rule, short and odd input still hidden, and no input can make a mask raise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsloom.form_engine.masks import FULL_MASK, MASK_STYLES, mask_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "+86138****5678"),
        ("+14155552671", "+14*******71"),
        ("01012345678", "010******78"),
        ("12345", "12**5"),  # short: at least a third hidden
        ("12", "1*"),
        ("1", "*"),
    ],
)
def test_phone(text: str, expected: str) -> None:
    assert mask_text(text, "phone") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice.wong@example.com", "a***g@example.com"),
        ("ab@example.com", "a***@example.com"),
        ("a@example.com", "a***@example.com"),
        ("@example.com", "***@example.com"),
        ("not-an-address", "n***s"),
        ("x@y@example.com", "x***y@example.com"),  # the last @ separates the domain
    ],
)
def test_email(text: str, expected: str) -> None:
    assert mask_text(text, "email") == expected


def test_email_hides_the_length_of_the_local_part() -> None:
    assert len(mask_text("bob@x.com", "email")) == len(mask_text("bartholomew@x.com", "email"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("110101199003071234", "110101********1234"),
        ("11010119900307123X", "110101********123X"),
        ("110101900307123", "11***********23"),  # the old 15-digit form: first 2, last 2
        ("A1234", "A1**4"),
    ],
)
def test_id_number(text: str, expected: str) -> None:
    assert mask_text(text, "id_number") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("张", "*"),
        ("Alice Wong", "A*** W***"),
        ("Alice", "A***"),
        ("Al  Bo", "A***  B***"),  # the spacing is kept
        ("A", "*"),
        ("Wong 张三", "W*** 张*"),
    ],
)
def test_name(text: str, expected: str) -> None:
    assert mask_text(text, "name") == expected


@pytest.mark.parametrize(
    ("style", "text", "expected"),
    [
        ({"style": "custom", "keep_start": 2, "keep_end": 3, "char": "#"}, "ABCDEFGHIJ", "AB#####HIJ"),
        ({"style": "custom", "keep_start": 0, "keep_end": 4}, "6222021234567890", "************7890"),
        ({"style": "custom", "keep_start": 3, "keep_end": 3}, "abc", "a*c"),  # cannot print it in clear
        ({"style": "custom", "keep_start": 9, "keep_end": 9}, "abcdef", "ab**ef"),
        ({"style": "custom"}, "abc", "***"),
        ({"style": "custom", "keep_start": -1, "keep_end": "2", "char": "ab"}, "abcdef", "******"),
        ({"style": "custom", "keep_start": True, "keep_end": None, "char": " "}, "abc", "***"),
        ("custom", "abc", "***"),
    ],
)
def test_custom(style: Any, text: str, expected: str) -> None:
    assert mask_text(text, style) == expected


@pytest.mark.parametrize("text", ["a", "13812345678", "a much longer secret value than six characters"])
def test_full_is_fixed_length(text: str) -> None:
    assert mask_text(text, "full") == FULL_MASK == "******"


@pytest.mark.parametrize("style", [*sorted(MASK_STYLES), {"style": "custom", "keep_start": 1, "keep_end": 1}])
def test_empty_stays_empty(style: Any) -> None:
    assert mask_text("", style) == ""


@pytest.mark.parametrize("style", ["nonsense", {"style": "nonsense"}, {"style": 3}, {}, None, 42])
def test_unknown_or_malformed_style_hides_everything(style: Any) -> None:
    assert mask_text("13812345678", style) == FULL_MASK


def test_non_text_input_does_not_raise() -> None:
    assert mask_text(None, "phone") == ""  # type: ignore[arg-type]
    assert mask_text(13812345678, "phone") == "138****5678"  # type: ignore[arg-type]


def test_styles_are_the_documented_ones() -> None:
    assert {"phone", "email", "id_number", "name", "custom", "full"} == MASK_STYLES


_STYLES = st.one_of(
    st.sampled_from(sorted(MASK_STYLES)),
    st.fixed_dictionaries(
        {
            "style": st.just("custom"),
            "keep_start": st.one_of(st.integers(-5, 50), st.none(), st.text(max_size=2)),
            "keep_end": st.one_of(st.integers(-5, 50), st.booleans()),
            "char": st.text(max_size=3),
        }
    ),
)


@given(text=st.text(max_size=60), style=_STYLES)
def test_never_raises(text: str, style: Any) -> None:
    masked = mask_text(text, style)
    assert isinstance(masked, str)
    assert bool(masked) == bool(text)


@given(
    text=st.text(alphabet=st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=1),
    style=st.one_of(
        st.sampled_from(["phone", "id_number"]),
        st.builds(
            lambda start, end: {"style": "custom", "keep_start": start, "keep_end": end},
            st.integers(0, 30),
            st.integers(0, 30),
        ),
    ),
)
def test_at_least_a_third_is_hidden(text: str, style: Any) -> None:
    hidden = mask_text(text, style).count("*")
    assert hidden >= max(1, -(-len(text) // 3))
