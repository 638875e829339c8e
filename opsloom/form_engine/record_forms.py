"""The record pages' form plumbing: which fields a form shows, HTML form text to values, values to text.

HTML inputs are text, so every field is read with its type's ``parse_text`` (the same
reader CSV imports use) and the result goes to ``RecordService`` like a JSON body, which
validates it once for the API and the pages alike. The form *state* (what each input
shows) is kept as text, so a form rendered again after an error shows what the user
typed, not what the server understood. Reads only the request data it is given; never
touches flask globals or the database (the views pass names they looked up).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from opsloom.platform import expr
from opsloom.platform.expr.values import truthy

from .fields.base import FieldValueError
from .values import condition_data, read_input

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from werkzeug.datastructures import MultiDict

    from .access import Access
    from .fields.base import FieldContext
    from .model import EntityModel, RuntimeField

__all__ = [
    "FormField",
    "ParsedForm",
    "display_value",
    "form_conditions",
    "form_fields",
    "layout_sections",
    "option_pairs",
    "read_form",
    "state_from_record",
]

#: widgets whose inputs send several values under one name
_MULTI_VALUE = frozenset({"multiselect", "file", "image"})
_SUB_NAME = re.compile(r"^(?P<key>[a-z][a-z0-9_]*)\.(?P<row>\d{1,4})\.(?P<sub>[a-z_][a-z0-9_]*)$")


@dataclass
class FormField:
    """One field as a form shows it: its widget, whether it can be typed into, its state and its error."""

    key: str
    label: str
    widget: str
    runtime: RuntimeField
    #: "edit" (an input) or "read" (shown only: computed, read-only or masked for the role)
    mode: str = "edit"
    required: bool = False
    #: hidden by the entity's ``visible_if`` for the current values
    hidden: bool = False
    #: conditional: the browser asks the server again when a value changes
    has_rule: bool = False
    #: the input's text (str), texts (list) or rows (list of dicts of texts) for a subtable
    state: Any = ""
    #: what a read-only field shows
    shown: str = ""
    help: str = ""
    placeholder: str = ""
    #: (value, label) choices of select-like widgets, or the selected (id, label) of pickers
    options: list[tuple[str, str]] = field(default_factory=list)
    #: a subtable's own fields, as form fields (their states live in ``state`` rows)
    subs: list[FormField] = field(default_factory=list)

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.runtime.spec


@dataclass
class ParsedForm:
    """What the submitted form says: values for the service, errors of unreadable inputs, the state to show."""

    raw: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


def option_pairs(spec: Mapping[str, Any], label: Callable[[Any, str], str]) -> list[tuple[str, str]]:
    """(value, label) of a field's ``options`` (text, or ``{"value", "label"}`` objects)."""
    pairs = []
    for item in spec.get("options") or []:
        if isinstance(item, str):
            pairs.append((item, item))
        elif isinstance(item, dict) and isinstance(item.get("value"), str):
            pairs.append((item["value"], label(item.get("label"), item["value"])))
    return pairs


def form_fields(
    model: EntityModel,
    access: Access,
    *,
    creating: bool,
    label: Callable[[Any, str], str],
) -> list[FormField]:
    """The fields a form shows to the actor, in definition order (hidden-for-the-role ones left out).

    A masked field may be entered on a new record but not changed later; read-only and
    computed fields are shown, never sent.
    """
    found = []
    for f in model.fields.values():
        rule = access.rule(f.key)
        if rule == "hidden":
            continue
        writable = rule == "editable" or (creating and rule == "masked")
        mode = "edit" if writable and not f.computed else "read"
        item = FormField(
            key=f.key,
            label=label(f.spec.get("label"), f.key),
            widget=f.type.widget,
            runtime=f,
            mode=mode,
            required=bool(f.spec.get("required")),
            has_rule=f.key in model.visible_if or f.key in model.required_if,
            help=label(f.spec.get("help"), ""),
            placeholder=label(f.spec.get("placeholder"), ""),
            options=option_pairs(f.spec, label),
        )
        for sub in f.sub_fields.values():
            item.subs.append(
                FormField(
                    key=sub.key,
                    label=label(sub.spec.get("label"), sub.key),
                    widget=sub.type.widget,
                    runtime=sub,
                    required=bool(sub.spec.get("required")),
                    options=option_pairs(sub.spec, label),
                )
            )
        found.append(item)
    return found


# ---------------------------------------------------------------- sections

_Item = TypeVar("_Item")


@dataclass
class Section(Generic[_Item]):
    """A heading of the form or the record page and the fields under it.

    ``label`` is None for the fields no section of the layout names (shown first, without
    a heading); a layout section without a label has ``""``.
    """

    label: str | None
    items: list[_Item]


def layout_sections(
    layout: Any,
    items: Iterable[_Item],
    *,
    key: Callable[[_Item], str],
    label: Callable[[Any, str], str],
) -> list[Section[_Item]]:
    """Group ``items`` under the sections of an entity's ``layout``, in the layout's order.

    Fields no section names form one section without a heading (``label`` None), in their
    own order: where the layout's ``{"unsectioned": true}`` stands (the first one, if
    several), else first. A field named by two sections goes to the first. Sections left
    with no field to show (every field hidden for the role) are dropped. Without a layout:
    one unlabelled section.
    """
    by_key = {key(item): item for item in items}
    taken: set[str] = set()
    titled: list[Section[_Item]] = []
    loose_at: int | None = None  # how many titled sections come before the fields of no section
    for section in layout if isinstance(layout, list) else ():
        if not isinstance(section, dict):
            continue
        if section.get("unsectioned") is True:
            loose_at = len(titled) if loose_at is None else loose_at
            continue
        names: Sequence[Any] = section.get("fields") if isinstance(section.get("fields"), list) else ()
        members = []
        for name in names:
            if isinstance(name, str) and name in by_key and name not in taken:
                taken.add(name)
                members.append(by_key[name])
        if members:
            titled.append(Section(label=label(section.get("label"), ""), items=members))
    loose = [item for k, item in by_key.items() if k not in taken]
    if loose:
        titled.insert(loose_at or 0, Section(label=None, items=loose))
    return titled


# ---------------------------------------------------------------- form text -> values


def _parse(f: RuntimeField, text: str, ctx: FieldContext) -> Any:
    return f.type.parse_text(text, f.spec, ctx)


def _checkbox_text(texts: list[str]) -> str:
    """The hidden "0" plus the ticked "1": ticked wins, nothing sent means no answer."""
    if "1" in texts:
        return "1"
    return "0" if texts else ""


def _subtable_rows(form: MultiDict[str, str], key: str) -> list[dict[str, list[str]]]:
    """The submitted rows of subtable ``key`` in page order: ``{sub: [texts]}`` per row."""
    rows: dict[str, dict[str, list[str]]] = {}
    for name in form:
        match = _SUB_NAME.match(name)
        if match is None or match["key"] != key:
            continue
        rows.setdefault(match["row"], {})[match["sub"]] = form.getlist(name)
    return list(rows.values())


def _read_subtable(item: FormField, form: MultiDict[str, str], ctx: FieldContext, parsed: ParsedForm) -> None:
    rows: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    for texts in _subtable_rows(form, item.key):
        row_id = (texts.get("id") or [""])[0].strip()
        cells = {sub.key: texts.get(sub.key, []) for sub in item.subs}
        if not row_id and not any(t.strip() for values in cells.values() for t in values if t != "0"):
            continue  # an added row left empty is no row
        position = len(rows)
        row: dict[str, Any] = {}
        state: dict[str, Any] = {"id": row_id}
        if row_id.isdigit():
            row["id"] = int(row_id)
        for sub in item.subs:
            values = cells[sub.key]
            text = _checkbox_text(values) if sub.widget == "checkbox" else (values[0] if values else "")
            state[sub.key] = text
            try:
                row[sub.key] = _parse(sub.runtime, text, ctx)
            except FieldValueError as exc:
                parsed.errors[f"{item.key}/{position}/{sub.key}"] = str(exc)
        rows.append(row)
        states.append(state)
    parsed.state[item.key] = states
    parsed.raw[item.key] = rows


def read_form(fields: list[FormField], form: MultiDict[str, str], ctx: FieldContext) -> ParsedForm:
    """Read the editable fields of ``fields`` from ``form`` with each type's ``parse_text``.

    An input that cannot be read is reported under its key (``field/row/sub`` in a
    subtable) and left out of ``raw``; the rest is ready for ``RecordService``.
    """
    parsed = ParsedForm()
    for item in fields:
        if item.mode != "edit":
            continue
        key, f = item.key, item.runtime
        if item.widget == "subtable":
            _read_subtable(item, form, ctx, parsed)
            continue
        texts = form.getlist(key)
        try:
            if item.widget in _MULTI_VALUE:
                chosen = [t for t in texts if t.strip()]
                parsed.state[key] = chosen
                if item.widget == "multiselect":
                    values: list[Any] = []
                    for text in chosen:
                        value = _parse(f, text, ctx)
                        values.extend(value if isinstance(value, list) else [value])
                    parsed.raw[key] = values or None
                else:  # files: the ids the upload answered, kept in hidden inputs
                    parsed.raw[key] = [int(t) for t in chosen if t.strip().isdigit()] or None
            elif item.widget == "relation" and f.spec.get("many"):
                chosen = [t for t in texts if t.strip()]
                parsed.state[key] = chosen
                parsed.raw[key] = _parse(f, ",".join(chosen), ctx)
            elif item.widget == "checkbox":
                text = _checkbox_text(texts)
                parsed.state[key] = text
                parsed.raw[key] = _parse(f, text, ctx) if text else None
            else:
                text = texts[-1] if texts else ""
                parsed.state[key] = text
                parsed.raw[key] = _parse(f, text, ctx)
        except FieldValueError as exc:
            parsed.errors[key] = str(exc)
    return parsed


def form_conditions(
    model: EntityModel,
    raw: dict[str, Any],
    ctx: FieldContext,
    *,
    existing: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
) -> tuple[set[str], set[str]]:
    """(hidden, required) field keys for the values of a form, by the entity's conditions.

    ``raw`` is what ``read_form`` read (inputs it could not read left out). Visibility is
    what saving would decide (``read_input``); requirement is read on the merged record,
    where a hidden field is empty. The record form and the designer's preview share it.
    """
    found = read_input(model, raw, ctx, existing=existing, user=user)
    merged = dict(existing or {})
    for key, value in found.values.items():
        f = model.fields[key]
        merged[key] = None if value is None else f.type.to_json(value, f.spec, ctx)
    data = condition_data(merged, ctx, user)
    context: dict[str, Any] = {"tz": ctx.timezone}
    if ctx.now is not None:
        context["_now"] = ctx.now
    required = {k for k, f in model.fields.items() if f.spec.get("required")}
    for key, compiled in model.required_if.items():
        try:
            if truthy(compiled(data, context=context)):
                required.add(key)
        except expr.ExprError:
            continue  # a condition that cannot be evaluated on incomplete data does not hold
    return set(found.hidden), required - set(found.hidden)


# ---------------------------------------------------------------- values -> text


def _local(stamp: str, timezone: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(ZoneInfo(timezone)) if moment.tzinfo else moment


def _input_text(item: FormField | Any, value: Any, timezone: str) -> Any:
    """A record's JSON value as its input shows it."""
    widget = item.widget
    if value is None:
        return [] if widget in _MULTI_VALUE or (widget == "relation" and item.spec.get("many")) else ""
    if widget == "checkbox":
        return "1" if value else "0"
    if widget == "datetime" and isinstance(value, str):
        moment = _local(value, timezone)
        return moment.strftime("%Y-%m-%dT%H:%M") if moment else value
    if widget == "time" and isinstance(value, str):
        return value[:5] if value.endswith(":00") else value
    if widget in ("file", "image"):
        return [str(ref.get("id")) for ref in value if isinstance(ref, dict)]
    if isinstance(value, list):
        return [str(v) for v in value]
    if widget == "json" or isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return str(value)


def state_from_record(fields: list[FormField], record: Mapping[str, Any], timezone: str) -> dict[str, Any]:
    """The form state that shows ``record`` (JSON, as presented to the actor)."""
    state: dict[str, Any] = {}
    for item in fields:
        value = record.get(item.key)
        if item.widget == "subtable":
            rows = []
            for row in value or []:
                cells = {"id": str(row.get("id") or "")}
                for sub in item.subs:
                    text = _input_text(sub, row.get(sub.key), timezone)
                    cells[sub.key] = text if isinstance(text, str) else ", ".join(text)
                rows.append(cells)
            state[item.key] = rows
        else:
            state[item.key] = _input_text(item, value, timezone)
    return state


def display_value(
    f: RuntimeField,
    value: Any,
    *,
    rule: str,
    timezone: str,
    label: Callable[[Any, str], str],
    names: Mapping[tuple[str, int], str],
    yes_no: tuple[str, str],
) -> str:
    """One value as a list cell or the record page shows it (masked values exactly as presented).

    ``names`` maps ``("user" | "department", id)`` to a name the view looked up.
    """
    if value is None or value == [] or value == "":
        return ""
    if rule == "masked":
        return str(value)
    widget = f.type.widget
    if widget == "checkbox":
        return yes_no[0] if value else yes_no[1]
    if widget in ("select", "multiselect"):
        labels = dict(option_pairs(f.spec, label))
        items = value if isinstance(value, list) else [value]
        return ", ".join(labels.get(v, str(v)) for v in items)
    if widget in ("user", "department"):
        return names.get((widget, value), f"#{value}") if isinstance(value, int) else str(value)
    if widget == "datetime" and isinstance(value, str):
        moment = _local(value, timezone)
        return moment.strftime("%Y-%m-%d %H:%M") if moment else value
    if widget in ("file", "image"):
        return ", ".join(str(ref.get("name") or ref.get("id")) for ref in value if isinstance(ref, dict))
    if widget == "subtable":
        return str(len(value))
    if widget == "relation":
        items = value if isinstance(value, list) else [value]
        return ", ".join(f"#{v}" for v in items)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
