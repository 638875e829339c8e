"""Password hashing (argon2id) and the password policy; pure, no database or Flask.

Hashes carry their own parameters, so raising the cost later only needs ``needs_rehash``
at the next successful sign-in; old hashes keep verifying meanwhile. The cost profile
is chosen once per process by ``use_profile`` (``PASSWORD_HASH_PROFILE``): ``standard``
in every real deployment, ``fast`` only for test suites that sign up hundreds of users.
"""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from opsloom.platform.errors import ValidationError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PROFILES",
    "check_policy",
    "hash_password",
    "needs_rehash",
    "use_profile",
    "verify_dummy",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 8
# argon2 reads the whole input; a cap keeps a megabyte "password" from costing CPU for nothing
MAX_PASSWORD_LENGTH = 1024

#: ``standard`` is RFC 9106's low-memory profile (argon2id, t=3, m=64 MiB, p=4), argon2-cffi's
#: default; ``fast`` is its cheapest profile, which protects nothing: test suites only
PROFILES = {"standard": profiles.RFC_9106_LOW_MEMORY, "fast": profiles.CHEAPEST}

hasher = PasswordHasher.from_parameters(PROFILES["standard"])

_dummy_hash: str | None = None


def use_profile(name: str) -> None:
    """Hash new passwords with the profile ``name`` from now on (process-wide).

    :raises ValueError: an unknown profile name.
    """
    global hasher, _dummy_hash
    if name not in PROFILES:
        raise ValueError(f"PASSWORD_HASH_PROFILE must be one of {sorted(PROFILES)}; got {name!r}.")
    if hasher.time_cost != PROFILES[name].time_cost or hasher.memory_cost != PROFILES[name].memory_cost:
        hasher = PasswordHasher.from_parameters(PROFILES[name])
        _dummy_hash = None


def check_policy(password: object, *, username: str = "", field: str = "password") -> str:
    """Return ``password`` when the policy accepts it.

    :raises ValidationError: ``errors[field]`` says what is wrong (too short, too long,
        same as the username, not a string).
    """
    if not isinstance(password, str):
        raise ValidationError("The password must be text.", errors={field: "must be a string"})
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = f"must be at least {MIN_PASSWORD_LENGTH} characters long"
        raise ValidationError(f"The password {reason}.", errors={field: reason})
    if len(password) > MAX_PASSWORD_LENGTH:
        reason = f"must be at most {MAX_PASSWORD_LENGTH} characters long"
        raise ValidationError(f"The password {reason}.", errors={field: reason})
    if not password.strip():
        reason = "must not be only spaces"
        raise ValidationError(f"The password {reason}.", errors={field: reason})
    if username and password.casefold() == username.casefold():
        reason = "must not be the same as the username"
        raise ValidationError(f"The password {reason}.", errors={field: reason})
    return password


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (call ``check_policy`` first for new passwords)."""
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; a damaged hash is a mismatch, not a crash."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    try:
        return hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_dummy(password: str) -> None:
    """Spend the time of one verification, so an unknown username answers as slowly as a known one."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hasher.hash("opsloom-dummy-password")
    verify_password(_dummy_hash, password[:MAX_PASSWORD_LENGTH])
