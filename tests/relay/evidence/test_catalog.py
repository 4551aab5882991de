"""The recordings catalog: summaries, filters and text search, in files and over a real relay.

Summaries are checked against recordings written by the relay's own recorder
(``tests/recordings.py``) and against ``warroom verify``'s verdict on the same
files; the listing, its filters and its search against a real relay, over
real websockets, with the scope each credential has.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from relay.core.protocol import SEARCH_LENGTH
from relay.core.roles import Role
from relay.evidence.asciicast import read_header
from relay.evidence.audit import read_events
from relay.evidence.catalog import Catalog, Verification, search, summarize
from relay.trust.identity import parse_join_target
from relay.trust.keys import SigningKey
from tests.harness import Harness, read_until, running_relay
from tests.recordings import new_recording, sample_session
from tui.client import RelayClient, RelayError
from tui.fetch import list_recordings

KEY = SigningKey.generate()


def test_a_summary_says_how_long_who_drove_and_whether_it_verifies(tmp_path: Path) -> None:
    path = sample_session(tmp_path / "s1.cast", KEY)
    summary = summarize(path, KEY.public)
    assert summary.duration == pytest.approx(10.0)
    assert summary.drivers == ("alice", "bob")
    assert summary.participants == ("alice", "bob")
    assert summary.ended == "the shell exited with status 0"
    assert summary.verification is Verification.VERIFIED
    assert summary.damaged_at is None
    # Checked against another relay's key, it is not the relay's recording.
    assert summarize(path, SigningKey.generate().public).verification is Verification.TAMPERED


def test_unsealed_is_recording_while_live_and_interrupted_after(tmp_path: Path) -> None:
    path = sample_session(tmp_path / "s1.cast", KEY, seal=False)
    assert summarize(path, KEY.public, live=True).verification is Verification.RECORDING
    assert summarize(path, KEY.public).verification is Verification.INTERRUPTED


def test_an_edit_is_tampered_and_a_broken_line_is_located(tmp_path: Path) -> None:
    path = sample_session(tmp_path / "s1.cast", KEY)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"found it", b"fixed it"))
    assert summarize(path, KEY.public).verification is Verification.TAMPERED
    at = data.index(b"\n") + 1  # just after the header
    path.write_bytes(data[:at] + b"not an event\n" + data[at:])
    summary = summarize(path, KEY.public)
    assert summary.verification is Verification.TAMPERED and summary.damaged_at == at


def test_search_ignores_escapes_case_and_event_boundaries(tmp_path: Path) -> None:
    s = new_recording(tmp_path / "s.cast", KEY)
    s.at(1.0).out(b"$ ls\r\n\x1b[1;34mDi")
    s.at(2.0).out(b"sk\x1b[0m  logs\r\n")
    s.rec.event("c", {"user": "bob", "text": "the WORKER is stuck"}, s.at(3.0).now)
    s.at(4.0).out(b"\x1b]0;title secret-ish\x07plain text after an OSC\r\n")
    s.rec.close("done", s.now)
    path = tmp_path / "s.cast"
    header = read_header(path)
    found = search(path, header, "disk  LOGS")
    assert found is not None and found.at == pytest.approx(2.0)
    assert found.snippet == "Disk  logs"
    chat = search(path, header, "worker is")
    assert chat is not None and chat.at == pytest.approx(3.0) and "WORKER" in chat.snippet
    assert search(path, header, "title secret") is None, "an OSC title is not screen text"
    after = search(path, header, "after an osc")
    assert after is not None and after.at == pytest.approx(4.0)
    assert search(path, header, "nowhere") is None


def test_the_catalog_reads_a_file_again_only_when_it_changes(tmp_path: Path) -> None:
    path = sample_session(tmp_path / "s1.cast", KEY, seal=False)
    catalog = Catalog(KEY.public)
    first = catalog.summary(path)
    assert first is not None and first is catalog.summary(path)
    with path.open("a") as handle:
        handle.write('[1.0, "c", "{\\"user\\":\\"carol\\",\\"text\\":\\"late\\"}"]\n')
    second = catalog.summary(path)
    assert second is not None and second is not first
    assert second.duration == pytest.approx(first.duration + 1.0)


# ---------------------------------------------------------------- over a real relay


async def record(h: Harness, owner: str, driver_input: bytes, needle: bytes) -> str:
    """A session opened by ``owner``, with alice typing ``driver_input``, then ended."""
    session = await h.open(owner=owner)
    live = h.relay.sessions[session]
    alice = await h.joined("alice", session)
    bob = await h.joined("bob", session)
    await alice.send_input(driver_input)
    await read_until(alice, needle)
    await bob.send({"type": "chat", "text": "@alice the queue is draining"})
    await alice.send({"type": "end", "reason": "fixed"})
    await live.wait_closed()
    return session


async def listed(client: RelayClient, **filters: object) -> list[dict[str, object]]:
    await client.send({"type": "list_recordings", **filters})
    answer = await client.expect("recordings")
    return list(answer["recordings"])


async def test_the_listing_carries_the_summary_and_filters_on_the_relay(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        first = await record(h, "alice", b"echo FIRST-$((6*7))\r", b"FIRST-42")
        second = await record(h, "alice", b"echo SECOND-$((5*5))\r", b"SECOND-25")
        rita = await h.login("rita")
        everything = await listed(rita)
        assert [e["session"] for e in everything] == [second, first]  # newest first
        entry = everything[1]
        assert entry["drivers"] == ["alice"] and entry["verification"] == "verified"
        assert sorted(entry["participants"]) == ["alice", "bob"]  # type: ignore[arg-type]
        assert entry["ended"] == "fixed" and float(entry["duration"]) > 0  # type: ignore[arg-type]

        # Search the text of the recordings, on the relay: where, and what is around it.
        (hit,) = await listed(rita, text="first-42")
        assert hit["session"] == first and "FIRST-42" in str(hit["match"])
        assert 0 < float(hit["match_at"]) <= float(hit["duration"])  # type: ignore[arg-type]
        chat = await listed(rita, text="queue is draining")
        assert {e["session"] for e in chat} == {first, second}
        assert await listed(rita, text="never typed anywhere") == []

        # Filters: user (owner, driver or participant), target, day.
        assert len(await listed(rita, user="bob")) == 2
        assert await listed(rita, user="carol") == []
        assert await listed(rita, target="elsewhere") == []
        now = time.time()
        assert len(await listed(rita, since=now - 3600, until=now + 60)) == 2
        assert await listed(rita, until=now - 3600) == []

        # Searching is reading: it is audited (the listing alone is not).
        h.relay.audit.tick()
        searches = [
            e for e in read_events(h.data_dir / "audit") if e["event"] == "recording.search"
        ]
        assert [e["text"] for e in searches] == [
            "first-42",
            "queue is draining",
            "never typed anywhere",
        ]
        assert all(e["user"] == "rita" for e in searches)


async def test_a_bound_credential_searches_only_its_session(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        first = await record(h, "alice", b"echo FIRST-$((6*7))\r", b"FIRST-42")
        second = await record(h, "alice", b"echo SECOND-$((5*5))\r", b"SECOND-25")
        guest = await h.client()
        invite = parse_join_target(await h.relay.invite(Role.REVIEWER, second, 600, "rev")).invite
        assert invite is not None
        await guest.auth_invite(invite)
        assert await listed(guest, text="FIRST-42") == []  # in a session it may not see
        assert [e["session"] for e in await listed(guest, text="SECOND")] == [second]
        await guest.send({"type": "list_recordings", "session": first, "text": "FIRST"})
        with pytest.raises(RelayError) as refused:
            await guest.expect("recordings")
        assert refused.value.code == "forbidden"
        # A viewer reads no recordings at all, search or not.
        bob = await h.login("bob")
        with pytest.raises(RelayError) as viewer:
            await list_recordings(bob, None)
        assert viewer.value.code == "forbidden"


async def test_search_limits_are_checked_before_any_work(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        rita = await h.login("rita")
        for bad in (
            {"text": "x" * (SEARCH_LENGTH + 1)},
            {"since": -1},
            {"until": 1e300},
            {"user": 5},
        ):
            await rita.send({"type": "list_recordings", **bad})
            with pytest.raises(RelayError) as refused:
                await rita.expect("recordings")
            assert refused.value.code == "bad_frame", bad
        assert await listed(rita) == []  # the connection is still fine
