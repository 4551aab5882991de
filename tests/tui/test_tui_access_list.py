"""A lead's list of waiting access requests stays true when the list crosses a notice.

The relay answers ``access_list`` from its store while it goes on announcing
new and closed requests, so an answer can be older than a notice that arrived
before it. Found under load by ``tests/tui/test_tui_alerts.py``: a request
announced while the lead's first list was being read vanished from the
lead's banner. The property plays the relay's side: requests open and close
in any order, the list is read at any moment between the question and the
answer, and the lead's view must end where the relay's state ends.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from relay.core.access import AccessRequest
from tui.access import Access

T0 = 1_790_000_000.0


def ask(n: int) -> AccessRequest:
    return AccessRequest(f"r{n}", "bob", "driver", "s1", f"INC-{n}", T0 + n)


def opened(n: int) -> dict[str, Any]:
    return {"type": "access_request", "request": ask(n).public()}


def closed(n: int) -> dict[str, Any]:
    return {"type": "access_request_closed", "id": f"r{n}", "approved": False, "by": "carol"}


def answer(waiting: set[int]) -> dict[str, Any]:
    return {"type": "access", "grants": [], "requests": [ask(n).public() for n in sorted(waiting)]}


def test_a_request_announced_while_the_list_is_read_stays() -> None:
    lead = Access(user="alice", lead=True)
    question = lead.list_request()
    assert question == {"type": "access_list"}
    lead.apply(opened(1), T0)  # announced at once...
    lead.apply(answer(set()), T0)  # ...by a relay whose list was read before it
    assert [r.id for r in lead.to_decide()] == ["r1"]
    # And the other way: closed before a list that still held it arrives.
    lead.list_request()
    lead.apply(closed(1), T0)
    lead.apply(answer({1}), T0)
    assert lead.to_decide() == []


@given(
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 4)), max_size=12),
    read_at=st.integers(0, 12),
    asked_at=st.integers(0, 12),
)
def test_the_leads_view_ends_where_the_relay_ends(
    steps: list[tuple[bool, int]], read_at: int, asked_at: int
) -> None:
    relay: set[int] = set()
    lead = Access(user="alice", lead=True)
    snapshot: set[int] | None = None
    asked = False
    for i, (opening, n) in enumerate([*steps, (False, -1)]):
        if i == asked_at and not asked:
            lead.list_request()
            asked = True
        if asked and snapshot is None and i >= read_at:
            snapshot = set(relay)  # the store is read now; the answer comes later
        if n < 0:
            break
        if opening and n not in relay:
            relay.add(n)
            lead.apply(opened(n), T0)
        elif not opening and n in relay:
            relay.discard(n)
            lead.apply(closed(n), T0)
    if asked:
        lead.apply(answer(relay if snapshot is None else snapshot), T0)
    assert {r.id for r in lead.to_decide()} == {f"r{n}" for n in relay}
