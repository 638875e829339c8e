"""The duplicate finder: which fields say two records are the same customer, and the groups they form.

Dedup keys refuse exact duplicates at write time (unique indexes); this module finds the
*likely* ones those keys cannot see: the same phone, the same e-mail in other letter case,
the same name written differently at the same company. Which fields to compare is derived
from the published entity (``match_rules``), so an admin configures nothing new.

Grouping runs in SQL wherever the normalisation has an SQL form (``lower(trim(x))`` for
e-mail and text keys; phones are stored canonical by the phone type). Names need Unicode
normalisation that SQL cannot do portably, so they are grouped in Python, in batches
of rows blocked by company, under a per-call budget: no call loads more than a few
thousand rows at once, whatever the table's size. A page can therefore hold fewer groups
than asked for; follow ``next_cursor`` until it is null.

Never imports flask and never commits. ``merge_records`` (``merge.py``) is re-exported
here because the finder and the merge are one tool to their callers.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, func, or_, select

from opsloom.platform.errors import InvalidCursor, ValidationError
from opsloom.platform.pagination import Page

from .fields.text import StringType, normalize_phone
from .merge import merge_records

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["MatchRule", "company_field", "find_duplicates", "match_rules", "merge_records", "normalize_name"]

#: most ids listed per group (a group of thousands is a data problem, not a merge task)
MAX_IDS = 50
#: most groups per page
MAX_LIMIT = 100
#: name rows one call may read (the rest waits for the next page)
SCAN_BUDGET = 20_000
#: name rows read per query
ROW_BATCH = 2_000
#: companies considered per block query
BLOCK_PAGE = 200
#: how sure each kind of match is (an exact e-mail is rarely shared; a name at a company can be)
SCORES = {"email": 0.95, "phone": 0.9, "dedup": 0.85, "name_company": 0.8}

_CURSOR_SALT = "opsloom.dedup.v1"
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class MatchRule:
    """One way two records can look alike: ``kind`` compared over ``fields`` (stored keys)."""

    kind: str
    fields: tuple[str, ...]

    @property
    def score(self) -> float:
        return SCORES[self.kind]


@dataclass(slots=True)
class _Group:
    """A group as found, before visibility and masking: stored values of its first record."""

    rule: MatchRule
    first: int
    ids: list[int]
    total: int
    sample: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- pure: what to compare


def normalize_name(text: Any) -> str:
    """A name as compared: NFKC, case-folded, punctuation removed, whitespace collapsed (``""`` if none)."""
    if not isinstance(text, str):
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if not unicodedata.category(ch).startswith("P"))
    return _SPACES.sub(" ", kept).strip()


def _is_string(f: RuntimeField | None) -> bool:
    return f is not None and f.storage == "column" and isinstance(f.type, StringType)


def _is_company_like(f: RuntimeField | None) -> bool:
    """A one relation or a text column: something that names the organisation a record belongs to."""
    if f is None or f.storage != "column":
        return False
    return f.type.name == "relation" or isinstance(f.type, StringType)


def company_field(model: EntityModel) -> str | None:
    """The field that says which company a record belongs to, for the name + company rule.

    The entity's dedup configuration names it (a dedup list of the title field and one
    other field); failing that, a field whose key is ``company``.
    """
    title = model.title_field
    for keys in model.body.get("dedup") or []:
        if title in keys and len(keys) == 2:
            other = keys[0] if keys[1] == title else keys[1]
            if _is_company_like(model.fields.get(other)):
                return other
    if title != "company" and _is_company_like(model.fields.get("company")):
        return "company"
    return None


def match_rules(model: EntityModel) -> list[MatchRule]:
    """The rules for ``model``, in page order: phones, e-mails, dedup lists, then name + company.

    A dedup list joins only when a case or space variant can slip past its unique index
    (it holds a text field); lists the other rules cover are not repeated.
    """
    rules: list[MatchRule] = []
    for f in model.column_fields():
        if f.type.name == "phone" and f.key in model.table.c:
            rules.append(MatchRule("phone", (f.key,)))
    for f in model.column_fields():
        if f.type.name == "email" and f.key in model.table.c:
            rules.append(MatchRule("email", (f.key,)))
    title = model.title_field
    company = company_field(model) if _is_string(model.fields.get(title or "")) else None
    covered = {rule.fields for rule in rules}
    if company is not None:
        covered.add((title, company))
        covered.add((company, title))
    for keys in model.body.get("dedup") or []:
        fields = tuple(keys)
        if fields in covered or not all(k in model.table.c for k in fields):
            continue
        if any(_is_string(model.fields[k]) and model.fields[k].type.name != "phone" for k in fields):
            rules.append(MatchRule("dedup", fields))
            covered.add(fields)
    if company is not None and title is not None:
        rules.append(MatchRule("name_company", (title, company)))
    return rules


# ---------------------------------------------------------------------- SQL keys


def _sql_key(model: EntityModel, key: str) -> ColumnElement[Any]:
    """The value compared for ``key``: text without case and outer spaces; anything else as stored."""
    column = model.table.c[key]
    f = model.fields[key]
    if _is_string(f) and f.type.name != "phone":
        return func.lower(func.trim(column))
    return column


def _present_keys(model: EntityModel, keys: tuple[str, ...]) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for key in keys:
        conditions.append(model.table.c[key].is_not(None))
        if _is_string(model.fields[key]):
            conditions.append(func.trim(model.table.c[key]) != "")
    return conditions


def _readable(service: RecordService, model: EntityModel) -> list[ColumnElement[bool]]:
    """Live records the actor may read: groups are formed among these only, so none leaks the others."""
    conditions: list[ColumnElement[bool]] = [model.table.c._deleted_at.is_(None)]
    scope = service.scope_condition(model.key, "read")
    if scope is not None:
        conditions.append(scope)
    return conditions


# ---------------------------------------------------------------------- rules grouped in SQL


def _sql_groups(
    service: RecordService, model: EntityModel, rule: MatchRule, after: int | None, want: int
) -> tuple[list[_Group], int | None]:
    """Up to ``want`` groups of ``rule`` whose first record comes after ``after``; and where to resume (None: done)."""
    table = model.table
    exprs = [_sql_key(model, key) for key in rule.fields]
    first = func.min(table.c.id)
    stmt = (
        select(
            *[e.label(f"k{i}") for i, e in enumerate(exprs)],
            first.label("first"),
            func.count().label("total"),
        )
        .where(*_readable(service, model), *_present_keys(model, rule.fields))
        .group_by(*exprs)
        .having(func.count() > 1)
    )
    if after is not None:
        stmt = stmt.having(first > after)
    found = service.session.execute(stmt.order_by(first).limit(want + 1)).all()
    more = len(found) > want
    found = found[:want]
    if not found:
        return [], None
    keys = [tuple(row[: len(exprs)]) for row in found]
    members = _members(service, model, rule, exprs, keys)
    groups: list[_Group] = []
    for row, key in zip(found, keys, strict=True):
        ids, sample = members.get(key, ([], {}))
        groups.extend(_refine(rule, row.first, ids, row.total, sample))
    return groups, found[-1].first if more else None


def _members(
    service: RecordService,
    model: EntityModel,
    rule: MatchRule,
    exprs: list[ColumnElement[Any]],
    keys: list[tuple[Any, ...]],
) -> dict[tuple[Any, ...], tuple[list[int], dict[str, Any]]]:
    """The first ``MAX_IDS`` ids of each group (one query: a window numbers the rows per group)."""
    table = model.table
    which = or_(*(and_(*(e == v for e, v in zip(exprs, key, strict=True))) for key in keys))
    position = func.row_number().over(partition_by=exprs, order_by=table.c.id).label("position")
    inner = (
        select(
            table.c.id,
            *[e.label(f"k{i}") for i, e in enumerate(exprs)],
            *[table.c[k].label(f"v{i}") for i, k in enumerate(rule.fields)],
            position,
        )
        .where(*_readable(service, model), which)
        .subquery()
    )
    rows = service.session.execute(select(inner).where(inner.c.position <= MAX_IDS).order_by(inner.c.id))
    out: dict[tuple[Any, ...], tuple[list[int], dict[str, Any]]] = {}
    width = len(exprs)
    for row in rows.mappings():
        key = tuple(row[f"k{i}"] for i in range(width))
        ids, sample = out.setdefault(key, ([], {}))
        ids.append(row["id"])
        if not sample:
            sample.update({k: row[f"v{i}"] for i, k in enumerate(rule.fields)})
    return out


def _refine(rule: MatchRule, first: int, ids: list[int], total: int, sample: dict[str, Any]) -> list[_Group]:
    """The SQL group, with phones shown canonical (``normalize_phone``: the same form the phone type stores)."""
    if len(ids) < 2:
        return []
    if rule.kind == "phone":
        key = rule.fields[0]
        sample = {key: normalize_phone(sample.get(key), region="any") or sample.get(key)}
    return [_Group(rule, first, ids, total, sample)]


# ---------------------------------------------------------------------- name + company, in batches


@dataclass(slots=True)
class _Block:
    """The records of one company that have a name: grouped in Python by normalised name."""

    key: Any
    first: int
    size: int
    names: dict[str, _Group] = field(default_factory=dict)


def _name_groups(
    service: RecordService,
    model: EntityModel,
    rule: MatchRule,
    state: tuple[int | None, int | None],
    want: int,
) -> tuple[list[_Group], tuple[int | None, int | None] | None]:
    """Up to ``want`` name + company groups from ``state`` (block first id, group first id within it).

    Companies are taken in the order of their first record, batched so that one query
    reads at most ``ROW_BATCH`` rows (a very large company is read in keyset chunks).
    Returns the groups and the state to resume from (None: this rule is done).
    """
    company = rule.fields[1]
    table = model.table
    company_key = _sql_key(model, company)
    where = [*_readable(service, model), *_present_keys(model, rule.fields)]
    block_after, group_after = state
    first = func.min(table.c.id)
    stmt = (
        select(company_key.label("c"), first.label("first"), func.count().label("size"))
        .where(*where)
        .group_by(company_key)
        .having(func.count() > 1)
    )
    if block_after is not None:
        # resuming inside a block re-reads it and skips the groups already shown
        stmt = stmt.having(first >= block_after if group_after is not None else first > block_after)
    blocks = [
        _Block(r.c, r.first, r.size) for r in service.session.execute(stmt.order_by(first).limit(BLOCK_PAGE))
    ]
    if not blocks:
        return [], None
    out: list[_Group] = []
    last: tuple[int | None, int | None] = state
    scanned = 0
    start = 0
    while start < len(blocks):
        batch = [blocks[start]]
        rows = blocks[start].size
        while start + len(batch) < len(blocks) and rows + blocks[start + len(batch)].size <= ROW_BATCH:
            rows += blocks[start + len(batch)].size
            batch.append(blocks[start + len(batch)])
        _read_names(service, model, rule, company_key, where, batch)
        scanned += rows
        start += len(batch)
        for block in batch:
            skip = group_after if block.first == block_after else None
            for group in sorted((g for g in block.names.values() if len(g.ids) > 1), key=lambda g: g.first):
                if skip is not None and group.first <= skip:
                    continue
                if len(out) == want:
                    return out, last
                out.append(group)
                last = (block.first, group.first)
        if scanned >= SCAN_BUDGET and start < len(blocks):
            return out, (batch[-1].first, None)
    return out, ((blocks[-1].first, None) if len(blocks) == BLOCK_PAGE else None)


def _read_names(
    service: RecordService,
    model: EntityModel,
    rule: MatchRule,
    company_key: ColumnElement[Any],
    where: list[ColumnElement[bool]],
    batch: list[_Block],
) -> None:
    """Read the names of ``batch``'s companies in keyset chunks and group them per company."""
    title, company = rule.fields
    table = model.table
    by_key = {block.key: block for block in batch}
    last = 0
    while True:
        stmt = (
            select(table.c.id, table.c[title], table.c[company], company_key.label("_company_key"))
            .where(*where, company_key.in_(list(by_key)), table.c.id > last)
            .order_by(table.c.id)
            .limit(ROW_BATCH)
        )
        rows = service.session.execute(stmt).all()
        for row in rows:
            name = normalize_name(row[1])
            if not name:
                continue
            block = by_key[row._company_key]
            group = block.names.get(name)
            if group is None:
                block.names[name] = _Group(rule, row.id, [row.id], 1, {title: row[1], company: row[2]})
            else:
                group.total += 1
                if len(group.ids) < MAX_IDS:
                    group.ids.append(row.id)
        if len(rows) < ROW_BATCH:
            return
        last = rows[-1].id


# ---------------------------------------------------------------------- the page


def _fingerprint(service: RecordService, model: EntityModel, rules: list[MatchRule]) -> str:
    """What a cursor is valid for: this entity version, these rules, this actor (whose scope shaped the page)."""
    described = "|".join(f"{r.kind}:{','.join(r.fields)}" for r in rules)
    where = f"{model.app_id}|{model.key}|{model.version}|{service.actor.user_id}|{described}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def _encode(secret: str, fingerprint: str, position: tuple[int, int | None, int | None]) -> str:
    """A signed cursor holding record ids only: a group's values (a phone) never travel in it."""
    return URLSafeSerializer(secret, salt=_CURSOR_SALT).dumps({"f": fingerprint, "p": list(position)})  # type: ignore[return-value]


def _decode(secret: str, fingerprint: str, cursor: str) -> tuple[int, int | None, int | None]:
    try:
        payload = URLSafeSerializer(secret, salt=_CURSOR_SALT).loads(cursor)
    except BadSignature:
        raise InvalidCursor(
            "The cursor is not valid; ask for the first page again without `cursor`.",
            errors={"cursor": "forged or damaged cursor"},
        ) from None
    position = payload.get("p") if isinstance(payload, dict) else None
    if (
        not isinstance(payload, dict)
        or payload.get("f") != fingerprint
        or not isinstance(position, list)
        or len(position) != 3
        or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in position)
        or position[0] is None
    ):
        raise InvalidCursor(
            "The cursor belongs to another entity or version; start from the first page.",
            errors={"cursor": "cursor does not match this query"},
        )
    return position[0], position[1], position[2]


def _readable_rules(service: RecordService, model: EntityModel) -> list[MatchRule]:
    """The rules over fields the actor may see: a hidden field must not be compared for them either."""
    rules = match_rules(model)
    keys = {key for rule in rules for key in rule.fields}
    shown = service.present(model, dict.fromkeys(keys))
    return [rule for rule in rules if all(key in shown for key in rule.fields)]


def _describe(service: RecordService, model: EntityModel, group: _Group) -> dict[str, Any]:
    """A group as the API answers it; its values pass through the actor's field rules (masked)."""
    ctx = service.ctx
    raw = {
        key: None if value is None else model.fields[key].type.to_json(value, model.fields[key].spec, ctx)
        for key, value in group.sample.items()
    }
    shown = service.present(model, raw)
    values = {key: shown.get(key) for key in group.rule.fields}
    reason = "same " + " and ".join(f"{key} {_text(values[key])}" for key in group.rule.fields)
    return {
        "ids": group.ids,
        "rule": group.rule.kind,
        "fields": list(group.rule.fields),
        "values": values,
        "reason": reason,
        "score": group.rule.score,
        "truncated": group.total > len(group.ids),
    }


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def find_duplicates(
    service: RecordService, entity: str, *, limit: int = 20, cursor: str | None = None, secret: str
) -> Page:
    """One page of groups of live records of ``entity`` that are likely the same.

    Each item: ``ids`` (at most ``MAX_IDS``, oldest first; ``truncated`` when there are
    more), ``rule`` and ``fields`` (what matched), ``values`` and ``reason`` (masked as the
    actor sees them), ``score`` (0-1). Only records the actor may read take part (their row
    scope applies in SQL). A pair that matches by several rules appears once per rule.

    :raises PermissionDenied: the actor may not update ``entity`` (merging is an update).
    :raises ValidationError: ``limit`` out of range. :raises InvalidCursor: a bad cursor.
    """
    model = service.model(entity)
    service.require(entity, "update")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"`limit` must be between 1 and {MAX_LIMIT}.",
            errors={"limit": f"must be between 1 and {MAX_LIMIT}"},
        )
    rules = _readable_rules(service, model)
    fingerprint = _fingerprint(service, model, rules)
    index, block, after = _decode(secret, fingerprint, cursor) if cursor else (0, None, None)
    found: list[_Group] = []
    while index < len(rules) and len(found) < limit:
        rule = rules[index]
        want = limit - len(found)
        if rule.kind == "name_company":
            groups, state = _name_groups(service, model, rule, (block, after), want)
        else:
            groups, resume = _sql_groups(service, model, rule, after, want)
            state = None if resume is None else (None, resume)
        found.extend(groups)
        if state is not None:
            block, after = state
            break
        index, block, after = index + 1, None, None
    next_cursor = _encode(secret, fingerprint, (index, block, after)) if index < len(rules) else None
    return Page(items=[_describe(service, model, group) for group in found], next_cursor=next_cursor)
