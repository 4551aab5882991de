"""PTY size changes reach every client between the same two bytes.

The reference is the recording: the relay writes each resize of the PTY there
in stream order (output before it, then ``r``), and the target itself says its
size (``stty size``). Every client — the driver on the raw stream, a viewer on
the masked one, a viewer resuming after a dropped connection — must receive
each size change at the offset where the recording has it, and nothing else.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from relay.core.protocol import OutputChunk, SizeChange, Snapshot
from relay.evidence.asciicast import iter_events, parse_size, read_header
from relay.net.output import RAW_BASE
from tests.harness import Targets, running_relay
from tui.client import RelayClient

LINES = 20000  # 61-byte lines: 1.2 MB, long enough to resize several times mid-flood
FLOOD = f"stty -echo; seq -f '%060g' 1 {LINES}; echo SIZE-$((1+1))-END; stty echo\r".encode()


@dataclass
class Seen:
    """What one client received: where it started, the sizes it was told, the bytes."""

    start: int | None = None
    size: tuple[int, int] | None = None
    marks: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, cols, rows)
    data: bytearray = field(default_factory=bytearray)

    @property
    def end(self) -> int:
        assert self.start is not None
        return self.start + len(self.data)


async def watch(
    client: RelayClient, needle: bytes, seen: Seen, resizes: int = 0, stop_at: int = 0
) -> Seen:
    """Read frames until ``needle`` (or ``stop_at`` bytes); as the driver, resize
    the PTY after each output frame, ``resizes`` times."""
    step = 0
    async with asyncio.timeout(120):
        while needle not in seen.data[-4096:] and not (stop_at and len(seen.data) >= stop_at):
            event = await client.recv()
            if isinstance(event, Snapshot):
                assert seen.start is None, "a snapshot in the middle of the stream"
                seen.start, seen.size = event.offset, (event.cols, event.rows)
            elif isinstance(event, SizeChange):
                if seen.start is None:  # a resumed stream starts with its size
                    seen.start = event.offset
                assert event.offset == seen.end, "a size change off the current offset"
                seen.marks.append((event.offset, event.cols, event.rows))
                seen.size = (event.cols, event.rows)
            elif isinstance(event, OutputChunk):
                assert seen.start is not None and event.offset <= seen.end
                seen.data += event.data[seen.end - event.offset :]
                if step < resizes:
                    step += 1
                    cols, rows = 60 + step * 7 % 50, 10 + step * 5 % 30
                    await client.send({"type": "resize", "cols": cols, "rows": rows})
    return seen


def recorded_marks(recordings: Path) -> list[tuple[int, int, int]]:
    """The recording's size changes, at the masked stream's offsets."""
    (path,) = recordings.glob("*.cast")
    header = read_header(path)
    offset, marks = 0, []
    for event in iter_events(path, header):
        if event.code == "o":
            offset += len(event.data.encode())
        elif event.code == "r":
            size = parse_size(event.data)
            assert size is not None
            marks.append((offset, *size))
    return marks


def contiguous(
    marks: list[tuple[int, int, int]], got: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The run of ``marks`` that ``got`` should be (empty if it is none)."""
    if not got:
        return []
    for i in range(len(marks)):
        if marks[i : i + len(got)] == got:
            return got
    return []


def size_in_effect(marks: list[tuple[int, int, int]], offset: int) -> tuple[int, int]:
    sizes = [(cols, rows) for at, cols, rows in marks if at <= offset]
    return sizes[-1]


async def test_size_changes_arrive_where_the_recording_has_them(
    tmp_path: Path, on_target: Targets
) -> None:
    async with running_relay(tmp_path, targets=on_target.extra, recordings=True) as h:
        session = await h.open(on_target.name)
        lead = await h.joined("alice", session, cols=100, rows=30)
        viewer = await h.joined("bob", session)
        dropped = await h.joined("carol", session)
        await lead.send_input(FLOOD)
        driver_seen, viewer_seen, early = await asyncio.gather(
            watch(lead, b"SIZE-2-END", Seen(), resizes=20),
            watch(viewer, b"SIZE-2-END", Seen()),
            watch(dropped, b"SIZE-2-END", Seen(), stop_at=LINES * 61 // 3),
        )
        # carol's connection drops a third of the way; she resumes at her offset.
        token = dropped.identity["token"]
        await dropped.close()
        again = RelayClient(h.url)
        await again.connect()
        await again.auth_token(token)
        await again.join(session, offset=early.end)
        resumed = await watch(again, b"SIZE-2-END", Seen())

        # The target's own word on its size, then the end of the recording.
        await lead.send_input(b"stty size; echo SIZE-$((2+1))-DONE\r")
        tail = await watch(lead, b"SIZE-3-DONE", Seen(start=driver_seen.end))
        await lead.send({"type": "end", "reason": "test over"})
        await lead.expect("ended")
        await again.close()

        marks = recorded_marks(h.data_dir / "recordings")
        assert len(marks) >= 6, f"the driver's resizes reached the recording: {marks}"
        for name, seen, base in (
            ("viewer", viewer_seen, 0),
            ("driver", driver_seen, RAW_BASE),
            ("resumed", resumed, 0),
            ("dropped", early, 0),
        ):
            assert seen.start is not None
            start, end = seen.start - base, seen.end - base
            got = [(at - base, cols, rows) for at, cols, rows in seen.marks]
            if name == "resumed":  # first told the size in effect where it resumed
                assert got[0] == (start, *size_in_effect(marks, start))
                got = got[1:]
            # The changes between its first and last byte, in the recording's order;
            # one at its very first or last offset may have come inside the snapshot
            # or after it stopped reading.
            assert got == contiguous(marks, got), f"{name}: {got} is not a run of {marks}"
            inner = [m for m in marks if start < m[0] < end]
            assert all(m in got for m in inner), f"{name}: missed size changes {inner} {got}"
            assert all(m[0] in (start, end) for m in got if m not in inner)
        rows, cols = map(int, re.findall(rb"(\d+) (\d+)\r\n", bytes(tail.data))[-1])
        driver_size = tail.size or driver_seen.size  # resizes sent last arrive in the tail
        assert (cols, rows) == (marks[-1][1], marks[-1][2]) == driver_size
