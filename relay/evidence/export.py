"""Exporting a recording as a plain asciicast file, for asciinema's own tools and players.

A warroom recording is already asciicast v3, but with signed ``#warroom-``
comment lines and warroom's own event codes. An export drops what other
tools do not know: comment lines, the ``warroom`` header object, input
(``i`` events, which can hold what a driver typed) unless asked for, and
every warroom code. Session events that a reviewer wants to find in a player
become **markers** (``m``), which asciinema's player shows on its progress bar
and reaches with ``[``/``]``: chat, hand-offs, joins and leaves, redactions,
the end of the session.

* ``asciicast-v2`` (the default: asciinema 2.x, ``asciinema cat`` and
  asciinema-player all read it): header ``{"version": 2, "width", "height",
  ...}``, event times absolute. v2 has no exit event; the exit status
  becomes a marker.
* ``asciicast-v3``: header ``{"version": 3, "term": {...}, ...}``, event times
  as intervals, ``x`` kept.

The header carries the size the terminal had when output began: a session
is opened at a default size and takes the lead's window size when they
join, before anything is printed, so those first resizes are folded into
the header rather than played as events.

The export of an export is the same file: a plain cast can be exported too
(to convert between v2 and v3).

Provenance: the one warroom field an export keeps is ``warroom_export`` in
its header (asciicast allows extra header fields; asciinema's tools ignore
them), which says what the export was made from and whether that verified::

    "warroom_export": {"source": "s1-20261127T120000Z.cast", "source_sha256": "<hex>",
        "verdict": "intact" | "interrupted" | "tampered" | "unsigned", "signed_by": "...",
        "key_checked": true, "lines_verified": 1042, "sealed": true, "problem": "..."}

``warroom export`` refuses a source whose verdict is not ``intact`` unless
``--force``, so an edited recording cannot come out as a clean-looking cast.
An export of an export keeps the first one's record as ``from_export``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from relay.evidence.asciicast import CastEvent, CastHeader, iter_events, parse_size, read_header
from relay.evidence.replay import describe

FORMATS = ("asciicast-v2", "asciicast-v3")
DEFAULT_FORMAT = "asciicast-v2"  # what the most players read (asciinema 2.x and the web player)
STANDARD = {"asciicast-v2": frozenset({"o", "i", "r", "m"}), "asciicast-v3": frozenset("oirmx")}
# Warroom codes that become markers; anything else unknown is dropped.
MARKED = frozenset("chjlse")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


PROVENANCE = "warroom_export"


def export_header(
    header: CastHeader, fmt: str, provenance: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The plain header: size, time, title, idle limit, TERM, and the source's provenance."""
    out: dict[str, Any]
    if fmt == "asciicast-v2":
        out = {"version": 2, "width": header.cols, "height": header.rows}
    else:
        out = {"version": 3, "term": {"cols": header.cols, "rows": header.rows}}
        if header.term_type:
            out["term"]["type"] = header.term_type
    if header.timestamp is not None:
        out["timestamp"] = int(header.timestamp)
    if header.idle_time_limit is not None:
        out["idle_time_limit"] = header.idle_time_limit
    if header.title:
        out["title"] = header.title
    if fmt == "asciicast-v2" and header.term_type:
        out["env"] = {"TERM": header.term_type}
    if provenance is not None:
        earlier = header.raw.get(PROVENANCE)
        out[PROVENANCE] = {**provenance, **({"from_export": earlier} if earlier else {})}
    return out


def size_at_first_output(path: Path, header: CastHeader) -> CastHeader:
    """``header`` with the terminal size in effect when the first output was printed."""
    size = (header.cols, header.rows)
    for event in iter_events(path, header):
        if event.code == "o":
            break
        if event.code == "r":
            size = parse_size(event.data) or size
    return replace(header, cols=size[0], rows=size[1])


def exported_events(
    path: Path, header: CastHeader, fmt: str, include_input: bool = False
) -> Iterator[tuple[float, str, str]]:
    """``(time, code, data)`` of the export, times absolute, in file order.

    Resizes before the first output are left out: the header already has
    their result (:func:`size_at_first_output`).
    """
    keep = STANDARD[fmt] - (set() if include_input else {"i"})
    printed = False
    for event in iter_events(path, header):
        printed = printed or event.code == "o"
        if event.code == "r" and not printed:
            continue
        converted = _convert(event, fmt, keep)
        if converted is not None:
            yield converted


def _convert(event: CastEvent, fmt: str, keep: frozenset[str]) -> tuple[float, str, str] | None:
    code = event.code
    if code in keep:
        return event.time, code, event.data
    if code in MARKED or (code == "x" and fmt == "asciicast-v2"):
        return event.time, "m", describe(code, event.data)
    return None


def export(
    source: Path,
    out: TextIO,
    fmt: str,
    include_input: bool = False,
    provenance: dict[str, Any] | None = None,
) -> int:
    """Write ``source`` as a plain cast in ``fmt`` to ``out``; return the events written.

    ``provenance`` (:func:`relay.evidence.verdicts.provenance`) goes into the header.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    header = read_header(source)
    sized = size_at_first_output(source, header)
    out.write(_dumps(export_header(sized, fmt, provenance)) + "\n")
    written = 0.0  # the time a reader reconstructs: rounding never accumulates drift
    count = 0
    for time, code, data in exported_events(source, header, fmt, include_input):
        stamp = time if fmt == "asciicast-v2" else round(max(0.0, time - written), 6)
        written += stamp
        out.write(f"[{stamp:.6f}, {_dumps(code)}, {_dumps(data)}]\n")
        count += 1
    return count
