"""The nearest known key for an unknown one in the config (`check-config`, the daemon's
start): `baud` in a serial device's table reads "unknown key (did you mean baudrate?)",
where it said "unknown key" alone and left the operator to the docs.

The keys known at a place are the fields of the schema's model there, found by walking
the config model along the error's location (lists, optional sections and tables of
tables on the way). A `[[chairs.devices]]` table is flat in TOML: its keys are the
device's own (`DeviceConfig`) and those of its driver's settings model, as the table
itself names the driver; the internal `settings` / `ignored` are never suggested."""

from __future__ import annotations

import copy
import difflib
import json
import types
from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from monitord.config_devices import DeviceConfig, driver_schema

Loc = tuple[int | str, ...]
_INTERNAL = frozenset({"settings", "ignored"})  # DeviceConfig fields no TOML key names


def _inner(tp: Any) -> list[Any]:
    """The types a field's annotation holds one level down (Optional, Annotated, list's
    item, dict's value), the annotation itself if none."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType) or getattr(origin, "__name__", "") == "Annotated":
        return [t for a in get_args(tp) for t in _inner(a)]
    if origin in (list, tuple, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        args = get_args(tp)
        return _inner(args[-1]) if args else []
    return [tp]


def _models(tp: Any) -> list[type[BaseModel]]:
    return [t for t in _inner(tp) if isinstance(t, type) and issubclass(t, BaseModel)]


def _device_keys(raw: Any) -> set[str]:
    keys = set(DeviceConfig.model_fields) - _INTERNAL
    desc = driver_schema(raw.get("driver", "")) if isinstance(raw, Mapping) else None
    if desc is not None:
        keys |= set(desc.settings.model_fields)
    return keys


def known_keys(root: type[BaseModel], raw: Any, loc: Loc) -> set[str]:
    """The keys the schema knows in the table holding `loc` (pydantic's location of an
    unknown key in `raw`, validated by `root`); empty where it cannot tell."""
    model: type[BaseModel] | None = root
    data: Any = raw
    tp: Any = None
    for part in loc[:-1]:
        if model is DeviceConfig and part == "settings":
            return _device_keys(data)  # the flat device table (module docstring)
        if isinstance(part, str) and model is not None:
            field = model.model_fields.get(part)
            if field is None:
                return set()
            tp, model = field.annotation, None
        elif tp is not None:  # a list's item or a table's value, one level down
            tp = get_args(tp)[-1] if get_args(tp) else None
        found = _models(tp)
        if found:
            model, tp = found[0], None
        data = data[part] if _has(data, part) else None
    if model is DeviceConfig:
        return _device_keys(data)
    return set(model.model_fields) if model is not None else set()


def _has(data: Any, part: int | str) -> bool:
    if isinstance(part, int):
        return isinstance(data, list) and 0 <= part < len(data)
    return isinstance(data, Mapping) and part in data


def unknown_key(root: type[BaseModel], raw: Any, loc: Loc) -> str:
    """ "unknown key", with the nearest known key of its table when one is close."""
    key = loc[-1] if loc else None
    if isinstance(key, str):
        near = difflib.get_close_matches(key, sorted(known_keys(root, raw, loc)), n=1)
        if near:
            return f"unknown key (did you mean {near[0]}?)"
    return "unknown key"


def flat_loc(loc: Loc) -> Loc:
    """A device's driver settings are its own keys in the flat TOML table: drop the
    `settings` step after `devices[j]` from an error's location."""
    return tuple(
        p
        for k, p in enumerate(loc)
        if not (
            p == "settings" and k >= 2 and loc[k - 2] == "devices" and isinstance(loc[k - 1], int)
        )
    )


# pydantic's error types for a value of the wrong type, and the type each wants.
_WANTS: dict[str, type] = {"int_type": int, "float_type": float, "bool_type": bool}
_KIND = {
    str: "text (in quotes)",
    bool: "a boolean",
    int: "a whole number",
    float: "a decimal number",
}
_WRITE = {int: "a whole number", float: "a number", bool: "true or false"}


def _toml(v: object) -> str:
    """`v` as TOML writes it (1883.0 stays 1883.0: it is not what the operator wrote as
    1883)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v) if isinstance(v, str) else repr(v)


def _number(v: object) -> str:
    """A value 0.1.0's conversion gave, as the line tells it to be written."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return _toml(v)


Refusal = Callable[[object], "str | None"]


def refusal(root: type[BaseModel], raw: Mapping[str, Any], context: Any, loc: Loc) -> Refusal:
    """What the schema says of another value at `loc` (its message, None if taken): the
    file validated again with that value in place of the one written."""

    def said(value: object) -> str | None:
        data: Any = copy.deepcopy(dict(raw))
        node = data
        for step in loc[:-1]:
            node = node[step]
        node[loc[-1]] = value
        try:
            root.model_validate(data, context=context)
        except ValidationError as e:
            for err in e.errors():
                if flat_loc(tuple(err["loc"])) == loc:
                    return str(err["msg"]).removeprefix("Value error, ")
        except (KeyError, IndexError, TypeError):
            return None
        return None

    return said


def error_text(err: Mapping[str, Any], refused: Refusal | None = None) -> str:
    """pydantic's message for one error of the config, as check-config says it.
    `refused(value)`: the schema's message for `value` in place of the one written (None
    if it takes it): a value is never advised that the key refuses (`port = "99999"`)."""
    msg = str(err["msg"]).removeprefix("Value error, ")
    want, got = _WANTS.get(str(err["type"])), err.get("input")
    if want is None or type(got) not in _KIND:
        return msg
    said = f"{msg}: {_toml(got)} is {_KIND[type(got)]}"
    quotes = ", without quotes" if isinstance(got, str) else ""
    try:  # as 0.1.0 read it (pydantic's lax mode)
        was: object = TypeAdapter(want).validate_python(got)
    except ValidationError:
        return f"{said}: write {_WRITE[want]}{quotes}"
    why = refused(was) if refused is not None else None
    if why is not None:  # 0.1.0 refused it too, or this key refuses it now
        return f"{said}: write {_WRITE[want]}{quotes}; {_number(was)} is refused too ({why})"
    if isinstance(got, bool):  # true for a port was port 1: never what was meant
        return f"{said}: write {_WRITE[want]} (0.1.0 read {_toml(got)} as {_number(was)})"
    # Said of 0.1.0's conversion, not of this key: it may be one 0.1.0 did not have.
    return f"{said}: write {_number(was)}{quotes} (0.1.0 converted such values; this one does not)"
