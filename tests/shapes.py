"""Does a message the relay sent have the shape its TypedDict in relay.core.protocol says?

A runtime check of the static types: every field the TypedDict requires is
there, no other field is, and each value has the declared type (nested
TypedDicts and lists of them are checked too). Tests that watch real
traffic run it on every message, so a relay message built around the types
(a ``**`` spread, a ``cast``) cannot drift from what clients are told.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from relay.core import messages, protocol

RELAY_TYPES = {protocol.message_type(m): m for m in messages.RELAY_MESSAGES}


def problems(message: Mapping[str, object]) -> list[str]:
    """What is wrong with ``message`` (empty: it is what its type says)."""
    kind = message.get("type")
    shape = RELAY_TYPES.get(str(kind))
    if shape is None:
        return [f"no TypedDict for a relay message of type {kind!r}"]
    return _check(shape, message, str(kind))


def _check(shape: type, value: object, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    hints = typing.get_type_hints(shape)
    required = {
        name
        for name, hint in typing.get_type_hints(shape, include_extras=True).items()
        if typing.get_origin(hint) is not typing.NotRequired
    }
    found = [f"{where}: missing {name!r}" for name in sorted(required - set(value))]
    found += [f"{where}: undeclared {name!r}" for name in sorted(set(value) - set(hints))]
    for name in set(value) & set(hints):
        found += _value(hints[name], value[name], f"{where}.{name}")
    return found


def _value(hint: Any, value: object, where: str) -> list[str]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return []
    if origin is typing.Literal:
        return [] if value in typing.get_args(hint) else [f"{where}: {value!r} is not {hint}"]
    if origin in (types.UnionType, typing.Union):
        options = [_value(option, value, where) for option in typing.get_args(hint)]
        return [] if any(not o for o in options) else [f"{where}: {value!r} is not {hint}"]
    if hint is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if typing.is_typeddict(hint):
        return _check(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in _value(item, v, f"{where}[{i}]")]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: not an object"]
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    return [] if ok else [f"{where}: {value!r} is not {hint.__name__}"]
