"""docs/protocol.md's limits are the code's limits.

The limits table is the contract clients and operators read: each row's
numbers are parsed and compared with the constant or the ``Limits`` default
the relay actually uses, every ``Limits`` field has its row, and every bound
the parser puts on a client's field is written down.
"""

from __future__ import annotations

import re
from dataclasses import fields

from relay.config import Limits
from relay.core import protocol, ratelimit
from relay.net import access_desk, connection, conversation, output
from relay.trust import identity
from tests.tools import ROOT

DOC = ROOT / "docs" / "protocol.md"
UNITS = {"KiB": 1024, "MiB": 1024 * 1024, "GiB": 1024**3, "s": 1, "min": 60, "h": 3600}
QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(?:\s*(KiB|MiB|GiB|min|h|s)\b)?")

# "(fixed)" rows, found by words of their last cell, and the code's values in the
# order the row's second cell gives them.
FIXED = {
    "frames websockets reads ahead": [connection.READ_AHEAD],
    "JSON answers queued for one client": [connection.REPLY_BUDGET],
    "socket buffer for one client": [connection.PRE_AUTH_OUTGOING, connection.OUTGOING],
    "text frames per connection": [conversation.MESSAGE_RATE, conversation.MESSAGE_BURST],
    "failed logins": [
        ratelimit.LOGIN_SOURCE_BURST,
        1,
        1 / ratelimit.LOGIN_SOURCE_RATE,
        ratelimit.LOGIN_USER_BURST,
        1,
        1 / ratelimit.LOGIN_USER_RATE,
    ],
    "every reason": [protocol.REASON_LENGTH],
    "ids / names / credentials / SSH signatures": [
        protocol.MAX_ID,
        protocol.MAX_NAME,
        protocol.FIELDS["auth"]["token"][0].limit,
        protocol.FIELDS["auth"]["signature"][0].limit,
    ],
    "pending access requests relay-wide": [
        access_desk.MAX_PENDING_REQUESTS,
        access_desk.REQUEST_TTL,
    ],
    "`open` in flight per connection": [1],
    "PTY size changes kept per output stream": [output.MAX_SIZE_MARKS],
    "scrollback carried by one snapshot": [
        output.SNAPSHOT_HISTORY_LINES,
        output.SNAPSHOT_HISTORY_BYTES,
    ],
    "`uses` of one invite": [protocol.MAX_INVITE_USES],
    "clock skew allowed on a credential": [identity.CLOCK_SKEW],
    "`list_recordings` in flight per connection": [1, protocol.SEARCH_LENGTH],
}


def limits_table() -> list[list[str]]:
    """The rows of the table under ``## Limits``, as lists of cells."""
    text = DOC.read_text()
    section = text.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return [row for row in cells[1:] if not set(row[0]) <= {"-"}]  # no header, no rule


def quantities(cell: str) -> list[float]:
    """``"5 per 10 s"`` → [5, 10]; ``"16 KiB before auth, 256 KiB after"`` → [16384, 262144]."""
    return [float(n) * UNITS.get(unit or "", 1) for n, unit in QUANTITY.findall(cell)]


def test_every_row_of_the_limits_table_is_the_code() -> None:
    defaults = Limits()
    documented: set[str] = set()
    fixed_seen: set[str] = set()
    for limit, default, what in limits_table():
        if limit == "(fixed)":
            keys = [key for key in FIXED if key in what]
            assert len(keys) == 1, f"no code behind the documented limit {what!r}"
            expected = FIXED[keys[0]]
            fixed_seen.add(keys[0])
        else:
            names = re.findall(r"`(\w+)`", limit)
            assert names, limit
            expected = [getattr(defaults, name) for name in names]
            documented.update(names)
        assert quantities(default) == [float(value) for value in expected], (limit, default, what)
    assert documented == {f.name for f in fields(Limits)}, "a [limits] setting lacks its row"
    assert fixed_seen == set(FIXED)


def test_the_login_throttle_row_names_the_addresses_it_remembers() -> None:
    (row,) = [row for row in limits_table() if "failed logins" in row[2]]
    remembered = ratelimit.KeyedBuckets(1, 1).max_keys
    assert f"{remembered} addresses remembered" in row[2]


def test_every_bound_on_a_client_field_is_documented() -> None:
    text = " ".join(DOC.read_text().split()).replace("\N{EN DASH}", "-")
    for kind, spec in protocol.FIELDS.items():
        for name, (bound, _) in spec.items():
            if isinstance(bound, protocol.Text):
                assert f"{bound.limit}" in text, f"{kind}.{name}: at most {bound.limit}"
    assert f"1-{protocol.MAX_COLS}" in text and f"1-{protocol.MAX_ROWS}" in text
    assert f"{protocol.MAX_CHAT} before its configured `chat_length`" in text
    assert f"more than {protocol.MAX_INT_DIGITS} digits" in text
