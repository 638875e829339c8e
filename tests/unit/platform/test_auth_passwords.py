"""Password hashing and policy (pure: no app, no database)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher

from opsloom.platform.auth import passwords
from opsloom.platform.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _restore_profile() -> Iterator[None]:
    saved = passwords.hasher
    yield
    passwords.hasher = saved


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("", "at least 8"),
        ("x" * 1025, "at most 1024"),
        (" " * 10, "only spaces"),
        ("Alice-Admin", "same as the username"),
        (12345678, "must be a string"),
    ],
)
def test_policy_refuses_with_a_field_error(password: object, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        passwords.check_policy(password, username="alice-admin")
    assert reason in caught.value.errors["password"]
    assert caught.value.status == 422


def test_policy_names_the_field_it_checks() -> None:
    with pytest.raises(ValidationError) as caught:
        passwords.check_policy("short", field="new_password")
    assert set(caught.value.errors) == {"new_password"}


def test_policy_accepts_eight_characters_and_unicode() -> None:
    assert passwords.check_policy("12345678") == "12345678"
    assert passwords.check_policy("密码很长很安全的", username="alice") == "密码很长很安全的"


def test_hash_is_argon2id_salted_and_verifies() -> None:
    passwords.use_profile("fast")
    first, second = passwords.hash_password("correct horse"), passwords.hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert passwords.verify_password(first, "correct horse")
    assert not passwords.verify_password(first, "wrong horse")


def test_damaged_hash_or_huge_input_is_a_mismatch_not_a_crash() -> None:
    assert not passwords.verify_password("not-a-hash", "whatever1")
    assert not passwords.verify_password("", "whatever1")
    good = PasswordHasher.from_parameters(passwords.PROFILES["fast"]).hash("x" * 10)
    assert not passwords.verify_password(good, "x" * 5000)


def test_standard_profile_is_rfc9106_low_memory() -> None:
    passwords.use_profile("standard")
    params = passwords.hasher
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)


def test_hash_made_with_other_parameters_needs_rehash() -> None:
    passwords.use_profile("fast")
    cheap = passwords.hash_password("correct horse")
    assert not passwords.needs_rehash(cheap)
    passwords.use_profile("standard")
    assert passwords.needs_rehash(cheap)
    assert passwords.verify_password(cheap, "correct horse")  # old hashes keep working
    assert passwords.needs_rehash("garbage")


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="PASSWORD_HASH_PROFILE"):
        passwords.use_profile("none")


def test_dummy_verification_never_matches() -> None:
    passwords.use_profile("fast")
    passwords.verify_dummy("opsloom-dummy-password")  # returns nothing, raises nothing
    passwords.verify_dummy("")
