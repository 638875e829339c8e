"""Validating definition bodies: the kind's JSON Schema (compiled once), then its semantic ``check``.

Pure: no Flask, no database access of its own (``check`` gets whatever its ``CheckContext``
offers). Errors come back keyed by JSON pointer, best first: shallow errors (more is
wrong) before deep ones, siblings in document order, one message per pointer.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from opsloom.platform.errors import PluginError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from jsonschema.exceptions import ValidationError as SchemaViolation

    from .kinds import CheckContext, DefinitionKind

__all__ = [
    "IDENTIFIER",
    "IDENTIFIER_PATTERN",
    "check_errors",
    "identifier_error",
    "join_pointer",
    "pointer",
    "raise_if_errors",
    "schema_errors",
    "validate_body",
    "validator_for",
]

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
IDENTIFIER = re.compile(IDENTIFIER_PATTERN)

# id(schema dict) -> (schema, validator); the schema is kept so its id cannot be reused
_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}
_WEAK = frozenset({"anyOf", "oneOf"})


def identifier_error(value: object, what: str = "key") -> str | None:
    """Why ``value`` is not a valid identifier, or None when it is."""
    if isinstance(value, str) and IDENTIFIER.match(value):
        return None
    return (
        f"{what} {value!r} is not a valid identifier: use 1-40 lowercase letters, digits or "
        f"underscores, starting with a letter ({IDENTIFIER_PATTERN})"
    )


def pointer(parts: Iterable[object]) -> str:
    """The RFC 6901 JSON pointer for a path of keys and indexes (``""`` is the root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def join_pointer(prefix: str, inner: str) -> str:
    """``prefix`` + ``inner``, where the document root (``""``) is shown as ``/`` when alone."""
    return (prefix + inner) or "/"


def validator_for(kind: DefinitionKind) -> Draft202012Validator:
    """The compiled validator of ``kind``'s schema; :raises PluginError: the schema itself is invalid."""
    cached = _VALIDATORS.get(id(kind.schema))
    if cached is not None and cached[0] is kind.schema:
        return cached[1]
    try:
        Draft202012Validator.check_schema(kind.schema)
    except SchemaError as exc:
        raise PluginError(
            f"definition kind {kind.name!r} has an invalid JSON Schema at "
            f"{pointer(exc.absolute_path) or '/'}: {exc.message}"
        ) from exc
    validator = Draft202012Validator(kind.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    _VALIDATORS[id(kind.schema)] = (kind.schema, validator)
    return validator


def _order(error: SchemaViolation) -> tuple[Any, ...]:
    return (len(error.absolute_path), tuple(error.absolute_path), error.validator in _WEAK)


def schema_errors(kind: DefinitionKind, body: Any, prefix: str = "") -> dict[str, str]:
    """Schema violations of ``body`` as {JSON pointer (under ``prefix``): message}, best first."""
    found = []
    for error in validator_for(kind).iter_errors(body):
        # for anyOf/oneOf, report the alternative that came closest rather than "is not valid under any"
        found.append(best_match([error]) if error.context else error)
    errors: dict[str, str] = {}
    for error in sorted(found, key=_order):
        errors.setdefault(join_pointer(prefix, pointer(error.absolute_path)), error.message)
    return errors


def check_errors(
    kind: DefinitionKind,
    body: dict[str, Any],
    *,
    key: str | None,
    context: CheckContext | None,
    prefix: str = "",
) -> dict[str, str]:
    """Errors beyond the schema: the key field must equal the definition key, then ``kind.check``."""
    errors: dict[str, str] = {}
    if kind.key_field and key is not None and body.get(kind.key_field) != key:
        errors[join_pointer(prefix, pointer([kind.key_field]))] = (
            f"must equal the definition key {key!r} (got {body.get(kind.key_field)!r})"
        )
    if kind.check is not None and context is not None:
        for where, message in kind.check(body, context) or ():
            errors.setdefault(join_pointer(prefix, where), message)
    return errors


def validate_body(
    kind: DefinitionKind,
    body: Any,
    *,
    key: str | None = None,
    context: CheckContext | None = None,
    prefix: str = "",
) -> dict[str, str]:
    """Every error of ``body``: the schema first; ``check`` only runs on a schema-valid body."""
    if not isinstance(body, dict):
        return {join_pointer(prefix, ""): f"a {kind.name} definition must be a JSON object"}
    errors = schema_errors(kind, body, prefix)
    if errors:
        return errors
    return check_errors(kind, body, key=key, context=context, prefix=prefix)


def raise_if_errors(errors: dict[str, str], what: str) -> None:
    """:raises ValidationError: (422) naming the first problems when ``errors`` is not empty."""
    if not errors:
        return
    first = "; ".join(f"{where}: {message}" for where, message in list(errors.items())[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    raise ValidationError(f"{what} is invalid: {first}{more}.", errors=errors)
