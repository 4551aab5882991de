"""What the relay says, checked against its own message types before the TUI reads it.

Every message the relay sends has one TypedDict in :mod:`relay.core.messages`,
told apart by ``type``. A frame is read here into that type only if it is
one: a known ``type``, every field the TypedDict requires present, every field
of the type it says (recursively: lists, nested records, ``None`` where allowed;
numbers finite), and the records nested in it (a grant, an access request)
readable by their own readers. Fields the TypedDict does not name are left
alone: a newer relay may add some, and this client ignores what it does not know.

Anything else is :class:`Unreadable`, whose message says what and where
(``roster.participants[0].role: expected str, got int``). The client drops such
a frame and says so (:class:`tui.client.RelayClient` ``on_unreadable``): a relay
that is broken, older or hostile must not crash the window or reach code that
trusts a field's type. Pure: no I/O.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import (
    Any,
    Literal,
    NotRequired,
    Required,
    TypedDict,
    TypeGuard,
    cast,
    get_args,
    get_origin,
)

from relay.core import messages, protocol
from relay.core.access import AccessRequest, Grant, GrantRole
from relay.core.errors import ProtocolError, WarroomError
from relay.core.roles import Role
from relay.core.text import printable

SHOWN = 60  # characters of an odd value quoted in an error (a hostile value may be huge)


class Unreadable(WarroomError, ValueError):
    """A frame from the relay that is not one of its messages; ``str()`` says why."""


AccessMessage = (
    messages.AccessListing
    | messages.AccessGranted
    | messages.AccessRevoked
    | messages.AccessRequestNotice
    | messages.AccessRequested
    | messages.AccessDecided
    | messages.AccessDecision
    | messages.AccessRequestClosed
    | messages.AccessExpired
)
"""What just-in-time access tells a window (:meth:`tui.access.Access.apply`)."""

KINDS: dict[str, type[Any]] = {protocol.message_type(t): t for t in messages.RELAY_MESSAGES}
ACCESS_KINDS = frozenset(protocol.message_type(t) for t in get_args(AccessMessage))


def is_access(message: messages.RelayMessage) -> TypeGuard[AccessMessage]:
    return message["type"] in ACCESS_KINDS


def read(frame: str) -> messages.RelayMessage:
    """A text frame as the relay message it is; :class:`Unreadable` if it is none."""
    try:
        raw = protocol.json_decode(frame)
    except ProtocolError as exc:
        raise Unreadable(str(exc)) from None
    return check(raw)


def check(raw: dict[str, Any]) -> messages.RelayMessage:
    """``raw`` typed as its relay message once it is one; :class:`Unreadable` if not."""
    kind = raw.get("type")
    shape = KINDS.get(kind) if isinstance(kind, str) else None
    if shape is None:
        raise Unreadable(f"unknown message type {_quote(kind)}")
    if not _fits(shape)(raw):
        _check(raw, shape, str(kind))  # the slow walk that says where (a fault is rare)
        raise Unreadable(f"{kind}: not of the shape of a {kind} message")
    for name, record_shape, reader in RECORDS.get(str(kind), ()):
        for path, record in _records(raw.get(name), f"{kind}.{name}"):
            if not _fits(record_shape)(record):
                _check(record, record_shape, path)
                raise Unreadable(f"{path}: not of the shape of a record")
            try:
                reader(record)
            except (KeyError, TypeError, ValueError, WarroomError) as exc:
                raise Unreadable(f"{path}: not a readable record ({_why(exc)})") from None
    for path, role in _roles(raw, str(kind)):
        if role not in ROLES:
            raise Unreadable(f"{path}: unknown role {_quote(role)}")
    return cast(messages.RelayMessage, raw)


# ---------------------------------------------------------------- the shape

Fits = Callable[[Any], bool]
_FITS: dict[Any, Fits] = {}


def _fits(hint: Any) -> Fits:
    """Whether a value is of type ``hint``: a predicate built once per type (fast: a
    roster of 200 people is read for each change), its answer the same as :func:`_check`'s.
    """
    fits = _FITS.get(hint)
    if fits is None:
        fits = _FITS[hint] = _build(hint)
    return fits


def _build(hint: Any) -> Fits:
    origin = get_origin(hint)
    if hint is Any:
        return lambda value: True
    if origin in (typing.Union, types.UnionType):
        arms = [_fits(arm) for arm in get_args(hint)]
        return lambda value: any(arm(value) for arm in arms)
    if origin is Literal:
        allowed = get_args(hint)
        return lambda value: isinstance(value, str) and value in allowed
    if origin is list:
        item = _fits(get_args(hint)[0])
        return lambda value: isinstance(value, list) and all(map(item, value))
    if origin is dict:
        item = _fits(get_args(hint)[1])
        return lambda value: isinstance(value, dict) and all(map(item, value.values()))
    if typing.is_typeddict(hint):
        fields = [(name, _fits(h), required) for name, (h, required) in _fields(hint).items()]

        def record(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for name, fits, required in fields:
                if name in value:
                    if not fits(value[name]):
                        return False
                elif required:
                    return False
            return True

        return record
    _is(None, hint)  # a type this reader does not know fails here, when built
    return lambda value: _is(value, hint)


def _check(value: Any, hint: Any, path: str) -> None:
    if hint is Any:
        return
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        deeper: list[Unreadable] = []  # from an arm whose outer type fits: the real fault
        for arm in get_args(hint):
            try:
                _check(value, arm, path)
            except Unreadable as exc:
                if not str(exc).startswith(f"{path}: expected "):
                    deeper.append(exc)
            else:
                return
        raise deeper[0] if deeper else _wrong(path, hint, value)
    if origin is Literal:
        if not (isinstance(value, str) and value in get_args(hint)):
            raise Unreadable(f"{path}: expected {_name(hint)}, got {_quote(value)}")
        return
    if origin is list:
        if not isinstance(value, list):
            raise _wrong(path, hint, value)
        (item,) = get_args(hint)
        for i, element in enumerate(value):
            _check(element, item, f"{path}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong(path, hint, value)
        _, item = get_args(hint)
        for key, element in value.items():
            _check(element, item, f"{path}.{printable(str(key))[:SHOWN]}")
        return
    if typing.is_typeddict(hint):
        _check_record(value, hint, path)
        return
    if not _is(value, hint):
        raise _wrong(path, hint, value)


def _is(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # JSON has one kind of number; NaN and infinities are no time or size
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    raise TypeError(f"{_name(hint)}: a type this reader does not know")  # a new kind of field


def _check_record(value: Any, shape: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _wrong(path, shape, value)
    for name, (hint, required) in _fields(shape).items():
        if name in value:
            _check(value[name], hint, f"{path}.{name}")
        elif required:
            raise Unreadable(f"{path}: {name} is missing")


_FIELDS: dict[Any, dict[str, tuple[Any, bool]]] = {}


def _fields(shape: Any) -> dict[str, tuple[Any, bool]]:
    """``{name: (type, required)}`` of a TypedDict.

    Not ``__required_keys__``: with ``from __future__ import annotations`` (as in
    :mod:`relay.core.messages`) Python 3.11 counts a ``NotRequired`` field as required.
    """
    fields = _FIELDS.get(shape)
    if fields is None:
        fields = {}
        for name, hint in typing.get_type_hints(shape, include_extras=True).items():
            required = bool(shape.__total__)
            while get_origin(hint) in (NotRequired, Required):
                required = get_origin(hint) is Required
                (hint,) = get_args(hint)
            fields[name] = (hint, required)
        _FIELDS[shape] = fields
    return fields


# ---------------------------------------------------------------- what a shape cannot say


class GrantRecord(TypedDict):
    """A grant's ``public()`` form, as far as the window reads it (:meth:`Grant.from_public`)."""

    id: str
    user: str
    role: GrantRole
    session: NotRequired[str | None]
    target: NotRequired[str | None]
    expires_at: float
    granted_by: NotRequired[str]
    reason: NotRequired[str]


class RequestRecord(TypedDict):
    """An access request's ``public()`` form (:meth:`AccessRequest.from_public`)."""

    id: str
    user: str
    role: GrantRole
    session: NotRequired[str | None]
    reason: NotRequired[str]
    at: NotRequired[float | None]


class RevokedRecord(TypedDict):
    """A revoked grant: the window reads its id."""

    id: str


Reader = Callable[[dict[str, Any]], object]
ROLES = frozenset(role.value for role in Role)
GRANT: tuple[Any, Reader] = (GrantRecord, Grant.from_public)
REQUEST: tuple[Any, Reader] = (RequestRecord, AccessRequest.from_public)
# The records nested in messages (a Record is any dict): their shape, then their reader
# (which knows the roles a grant may name).
RECORDS: dict[str, tuple[tuple[str, Any, Reader], ...]] = {
    "access": (("grants", *GRANT), ("requests", *REQUEST)),
    "access_granted": (("grant", *GRANT),),
    "access_revoked": (("grants", RevokedRecord, dict),),
    "access_request": (("request", *REQUEST),),
    "access_requested": (("request", *REQUEST),),
    "access_decided": (("grant", *GRANT),),
    "access_decision": (("grant", *GRANT),),
    "access_expired": (("grant", *GRANT),),
}


def _records(value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        return [(path, value)]
    if isinstance(value, list):
        return [(f"{path}[{i}]", v) for i, v in enumerate(value) if isinstance(v, dict)]
    return []


def _roles(raw: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """The session roles a message names (the window draws and compares them)."""
    if kind == "welcome_session":
        return [(f"{kind}.role", raw["role"])]
    if kind == "roster":
        people = raw["participants"]
        return [(f"{kind}.participants[{i}].role", p["role"]) for i, p in enumerate(people)]
    return []


# ---------------------------------------------------------------- saying what is wrong


def _wrong(path: str, hint: Any, value: Any) -> Unreadable:
    return Unreadable(f"{path}: expected {_name(hint)}, got {_kind(value)}")


def _name(hint: Any) -> str:
    if typing.is_typeddict(hint) or hint is dict:
        return "an object"
    if hint is type(None):
        return "null"
    if get_origin(hint) is Literal:
        return " or ".join(repr(a) for a in get_args(hint))
    if get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in get_args(hint))
    if get_origin(hint) is list:
        return "a list"
    if get_origin(hint) is dict:
        return "an object"
    return getattr(hint, "__name__", str(hint))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _quote(value: Any) -> str:
    text = printable(repr(value))
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"{_quote(exc.args[0] if exc.args else '?')} is missing"
    return printable(str(exc))[:SHOWN] or type(exc).__name__


# ---------------------------------------------------------------- telling the user

NOTE_EVERY = 10.0  # seconds between two notes about ignored frames (a flood is one note)
KEPT = 100  # the latest reasons kept (a relay could send millions)


@dataclass
class Ignoring:
    """What a window says about the frames it ignored: the first at once, then at most
    one note per :data:`NOTE_EVERY` seconds, counting those it did not mention."""

    seen: list[str] = field(default_factory=list)  # the latest reasons, oldest first
    count: int = 0
    _said_at: float | None = None
    _unsaid: int = 0

    def ignored(self, reason: str, now: float) -> str | None:
        """Note one ignored frame; return what to tell the user now, if anything."""
        self.count += 1
        self.seen = [*self.seen[-(KEPT - 1) :], reason]
        if self._said_at is not None and now - self._said_at < NOTE_EVERY:
            self._unsaid += 1
            return None
        more = f" ({self._unsaid} more were ignored before it)" if self._unsaid else ""
        self._said_at, self._unsaid = now, 0
        return f"The relay sent something this window cannot read: {reason}. It was ignored{more}."
