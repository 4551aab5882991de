"""A session's output stream and its terminal model."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from relay.net.output import RAW_BASE, SNAPSHOT_HISTORY_LINES, SessionOutput, SizeMark
from relay.terminal import TerminalModel


def kept_marks(out: SessionOutput) -> list[SizeMark]:
    """The size changes a client can still apply, walked as a client walks them:
    from the one after the last forgotten, each to the next (``next_mark``)."""
    marks: list[SizeMark] = []
    mark = out.next_mark(out.dropped_seq)
    while mark is not None:
        marks.append(mark)
        mark = out.next_mark(mark.seq)
    return marks


async def test_a_chunk_larger_than_the_buffer_is_kept_and_the_model_skips() -> None:
    out = SessionOutput(capacity=1024, cols=20, rows=3)
    big = b"".join(b"line %05d\r\n" % i for i in range(1000))  # 11 KB at once
    out.append(big)
    assert out.stream.end == len(big) and out.holds(out.stream.end)
    assert out.model_lag <= len(big)
    _offset, cols, rows, snapshot = out.snapshot()
    assert (cols, rows) == (20, 3) and snapshot.startswith(b"\x1bc")


async def test_the_raw_stream_lives_in_its_own_offsets() -> None:
    raw = SessionOutput(capacity=1 << 20, cols=80, rows=24, base=RAW_BASE)
    masked = SessionOutput(capacity=1 << 20, cols=80, rows=24)
    raw.append(b"abc")
    masked.append(b"abc")
    assert raw.holds(RAW_BASE + 3) and not masked.holds(RAW_BASE + 3)
    assert masked.holds(3) and not raw.holds(3)


async def test_a_lazy_output_catches_its_model_up_when_asked_for_a_snapshot() -> None:
    from relay.terminal import TerminalModel

    lazy = SessionOutput(capacity=1 << 20, cols=40, rows=5, base=RAW_BASE, lazy=True)
    stream = b"".join(b"\x1b[3%dmline %d\x1b[0m\r\n" % (i % 8, i) for i in range(300))
    for i in range(0, len(stream), 1000):
        lazy.append(stream[i : i + 1000])
    assert lazy.model_lag == len(stream)  # nothing fed until needed
    offset, cols, rows, snapshot = lazy.snapshot()
    assert offset == RAW_BASE + len(stream) and lazy.model_lag == 0
    fresh = TerminalModel(cols, rows)
    fresh.feed(stream)
    rebuilt = TerminalModel(cols, rows)
    rebuilt.feed(snapshot)
    assert rebuilt.display() == fresh.display()


async def test_size_changes_are_kept_in_order_and_bounded() -> None:
    from relay.net.output import MAX_SIZE_MARKS

    out = SessionOutput(capacity=1 << 20, cols=80, rows=24, lazy=True)  # fed by snapshot()
    out.append(b"a")
    out.resize(100, 30)
    out.resize(90, 20)  # no output between: two marks at the same offset, in order
    out.append(b"bc")
    out.resize(70, 10)
    assert out.size_at(0) == (0, 80, 24)
    assert out.size_at(1) == (2, 90, 20)
    assert out.size_at(3) == (3, 70, 10)
    first = out.next_mark(0)
    assert first is not None and (first.offset, first.cols, first.rows) == (1, 100, 30)
    second = out.next_mark(first.seq)
    assert second is not None and (second.offset, second.cols) == (1, 90)
    assert out.next_mark(3) is None
    # The snapshot has every size change up to its offset (the model applied them).
    offset, cols, rows, _ = out.snapshot()
    assert (offset, cols, rows) == (3, 70, 10) and out.size_at(offset)[0] == 3

    # A driver resizing without end: the marks kept stay bounded; whoever is
    # behind the oldest one kept cannot resume and gets a snapshot instead.
    for i in range(MAX_SIZE_MARKS + 10):
        out.append(b"x")
        out.resize(20 + i % 50, 5 + i % 20)
    assert len(kept_marks(out)) == MAX_SIZE_MARKS
    assert not out.holds(3) and out.holds(out.stream.end)
    assert out.dropped_seq > 3  # a client at seq 3 is told to resync
    _, cols, rows, _ = out.snapshot()
    assert out.size_at(out.stream.end)[1:] == (cols, rows)


async def test_marks_before_the_stream_start_are_forgotten() -> None:
    out = SessionOutput(capacity=64, cols=80, rows=24)
    out.resize(40, 10)
    out.append(b"y" * 200)
    out.append(b"z" * 200)  # evicts the chunk at the resize's offset
    assert not kept_marks(out) and out.size_at(out.stream.start) == (1, 40, 10)
    assert out.holds(out.stream.start)


async def test_a_snapshot_carries_the_newest_scrollback_within_its_limits() -> None:
    from relay.net.output import SNAPSHOT_HISTORY_BYTES, SNAPSHOT_HISTORY_LINES
    from relay.terminal import TerminalModel

    out = SessionOutput(capacity=1 << 24, cols=80, rows=5, lazy=True)
    out.append(b"".join(b"line %05d\r\n" % i for i in range(3000)) + b"$ ")
    _, cols, rows, snapshot = out.snapshot()
    rebuilt = TerminalModel(cols, rows)
    rebuilt.feed(snapshot)
    assert len(rebuilt.history) == SNAPSHOT_HISTORY_LINES  # short lines: the line limit
    newest = ["".join(c.data for c in rebuilt.line(y)).rstrip() for y in (-2, -1)]
    assert newest == ["line 02994", "line 02995"]
    assert rebuilt.display() == out.model.display()

    # Long coloured lines: the byte limit, still the newest lines.
    wide = SessionOutput(capacity=1 << 24, cols=200, rows=5, lazy=True)
    line = b"".join(b"\x1b[3%dm%s" % (i % 8, b"x" * 9) for i in range(20))
    wide.append(b"".join(b"%05d" % i + line + b"\x1b[m\r\n" for i in range(3000)))
    _, cols, rows, snapshot = wide.snapshot()
    rebuilt = TerminalModel(cols, rows)
    rebuilt.feed(snapshot)
    screen_only = len(wide.model.snapshot(0))
    assert len(snapshot) - screen_only <= SNAPSHOT_HISTORY_BYTES
    assert 100 < len(rebuilt.history) < SNAPSHOT_HISTORY_LINES
    assert "".join(c.data for c in rebuilt.line(-1)).startswith("02995")


async def test_a_flood_feeds_the_model_in_batches_and_the_rest_when_quiet() -> None:
    """Floods arrive a few KiB per socket read; the model is fed per batch, not per read,
    and what stays below a batch is fed once the output goes quiet."""
    from relay.terminal import TerminalModel
    from tests.relay.terminal.test_terminal import state

    out = SessionOutput(capacity=1 << 24, cols=80, rows=24)
    model = out.model
    feeds: list[int] = []

    class Counted:
        """The model, counting its feeds (a compiled model's methods are read-only)."""

        def feed(self, data: bytes) -> None:
            feeds.append(len(data))
            model.feed(data)

        def __getattr__(self, name: str) -> object:
            return getattr(model, name)

    out.model = Counted()  # type: ignore[assignment]
    task = asyncio.create_task(out.feed_model())
    try:
        flood = b"".join(b"\x1b[32m%07d\x1b[m GET /api/v1/items 200\r\n" % i for i in range(40_000))
        for i in range(0, len(flood), 4000):  # a socket read per event-loop turn
            out.append(flood[i : i + 4000])
            await asyncio.sleep(0)
        async with asyncio.timeout(30):
            while out.model_lag:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert sum(feeds) == len(flood)
    reads = len(flood) // 4000
    assert len(feeds) < reads // 4  # 1.6 MB in batches (~6), not one per read (390)
    reference = TerminalModel(80, 24)
    reference.feed(flood)
    assert state(model) == state(reference)


@st.composite
def appends(draw: st.DrawFn) -> list[bytes | tuple[int, int] | None]:
    """Output pieces, size changes (cols, rows) and snapshots (None) in some order."""
    pieces = st.sampled_from(
        [
            b"line of text\r\n",
            b"\x1b[31mred\x1b[m ",
            b"\x1b[2;5Hmoved",
            b"\x1b[?1049h",
            b"\x1b[?1049l",
            b"\xe4\xb8\xad",
            b"\xe4",
            b"\xb8\xad",
            b"\x1b]0;title\x07",
            b"\x1b[",
            b"K",
            b"\r",
            b"\n",
            b"x" * 300,
        ]
    )
    steps = st.one_of(
        st.lists(pieces, min_size=1, max_size=8).map(b"".join),
        st.tuples(st.integers(10, 100), st.integers(3, 30)),
        st.none(),
    )
    return draw(st.lists(steps, max_size=25))


@given(appends(), st.integers(0, 3))
def test_a_snapshot_shows_the_stream_up_to_its_offset_however_the_model_was_fed(
    steps: list[bytes | tuple[int, int] | None], turns: int
) -> None:
    """Batched feeding, the quiet timer and snapshots' catch-up leave the model exactly as
    one fed the stream's bytes and size changes up to the snapshot's offset in one go."""
    from relay.terminal import TerminalModel
    from tests.relay.terminal.test_terminal import state

    async def scenario() -> None:
        out = SessionOutput(capacity=1 << 20, cols=40, rows=10)
        task = asyncio.create_task(out.feed_model())
        stream = b""
        marks: list[tuple[int, int, int]] = []
        try:
            for step in [*steps, None]:
                if isinstance(step, bytes):
                    out.append(step)
                    stream += step
                elif isinstance(step, tuple):
                    out.resize(*step)
                    marks.append((len(stream), *step))
                else:
                    offset, cols, rows, snapshot = out.snapshot()
                    reference = TerminalModel(40, 10)
                    fed = 0
                    for at, c, r in marks:
                        if at > offset:
                            break
                        reference.feed(stream[fed:at])
                        reference.resize(c, r)
                        fed = at
                    reference.feed(stream[fed:offset])
                    assert (cols, rows) == (reference.cols, reference.rows)
                    assert offset == len(stream)  # little waits: the snapshot catches up
                    assert state(out.model) == state(reference)
                    shown = TerminalModel(cols, rows)
                    shown.feed(snapshot)
                    assert shown.display() == reference.display()
                for _ in range(turns):
                    await asyncio.sleep(0)
        finally:
            task.cancel()

    asyncio.run(scenario())


async def test_a_snapshot_is_rendered_once_per_state_of_the_screen() -> None:
    """Viewers joining an idle session (or resyncing together after a flood) need the same
    screen: it is rendered once, and again only after the model changed in any way."""
    from relay.terminal import TerminalModel

    out = SessionOutput(capacity=1 << 20, cols=40, rows=5)
    out.append(b"".join(b"line %d\r\n" % i for i in range(50)))
    first = out.snapshot()
    assert out.snapshot()[3] is first[3]  # nothing changed: the same bytes, not a new render

    def screen(snapshot: bytes, cols: int, rows: int) -> list[str]:
        model = TerminalModel(cols, rows)
        model.feed(snapshot)
        return model.display()

    out.append(b"more\r\n")  # output
    second = out.snapshot()
    assert screen(second[3], 40, 5)[3].rstrip() == "more" and second[0] == first[0] + 6
    out.resize(30, 4)  # a size change
    third = out.snapshot()
    assert (third[1], third[2]) == (30, 4) and third[3] != second[3]
    other = SessionOutput(capacity=1 << 20, cols=30, rows=4)
    other.append(b"\x1b[2J\x1b[Hfrom the home\r\n")
    out.seed(out.stream.end, 30, 4, other.snapshot()[3])  # an edge's copy starts again
    assert screen(out.snapshot()[3], 30, 4)[0].rstrip() == "from the home"


def _reference_snapshot(stream: bytes, cols: int, rows: int) -> tuple[bytes, int]:
    """What a model fed every byte shows a late joiner: its screen and newest scrollback."""
    reference = TerminalModel(cols, rows)
    reference.feed(stream)
    return reference.snapshot(SNAPSHOT_HISTORY_LINES), len(reference.history)


_PREFIXES = st.sampled_from(
    [
        b"",
        b"$ ",
        b"\x1b[2J\x1b[5;7Hold text on row five\x1b[1;44m",
        b"\x1b[3;20r\x1b[10Hinside the margins\r\n",  # margins: no skip
        b"\x1b[3;20r\x1b[22Hbelow the margins\r\n",  # rows that never scroll
        b"half a line \x1b[",  # an unfinished CSI: the flood's first line ends it
        b"\x1b]0;a title",  # an unfinished OSC: swallows the flood
        b"\xe4\xb8",  # half a UTF-8 character
        b"wide \xe4\xb8\xad\xe6\x96\x87 and a bare LF\n",
        b"\x1b[?1049h\x1b[Halternate screen\r\n",
        b"\x1b[4hinsert mode \x1b[?7lno autowrap\r\n",
    ]
)


@given(
    _PREFIXES,
    st.lists(st.integers(0, 200), min_size=1, max_size=8),
    st.integers(1100, 3000),
    st.sampled_from([b"", b"\x1b[31mred\x1b[0m ", b"\tTAB\t", b"\x1b[K"]),
    st.integers(1, 5),
    st.sampled_from([b"", b"\x1b[44m", b"\x1b[7m"]),
    st.sampled_from([b"\r\n", b"\n"]),
    st.sampled_from([(80, 24), (20, 5)]),
)
def test_a_flood_of_plain_lines_skipped_gives_the_snapshot_of_every_byte(
    prefix: bytes,
    widths: list[int],
    count: int,
    tail_extra: bytes,
    every: int,
    pen: bytes,
    newline: bytes,
    size: tuple[int, int],
) -> None:
    """Leaving out the older part of a flood of plain lines (``_skip_plain``) changes
    nothing a snapshot shows: screen, pen, modes and the newest scrollback are those
    of a model fed every byte, whatever state the flood found the model in, however
    long its lines (wrapping), and whatever the newest lines hold (SGR, tabs, EL).
    An SGR among the older lines (``pen``) changes the pen the newest are drawn
    with, so the older part cannot be left out then."""
    cols, rows = size
    lines = [
        b"%06d " % i + b"x" * widths[i % len(widths)] + (tail_extra if i % every == 0 else b"")
        for i in range(count)
    ]
    # The older lines are plain; SGR and EL may appear only in the newest ones.
    body = [
        line if i >= count - 40 else line.replace(tail_extra, b"") for i, line in enumerate(lines)
    ]
    body[count // 3] += pen
    stream = prefix + newline.join(body) + newline + b"$ "

    async def scenario() -> None:
        out = SessionOutput(capacity=8 << 20, cols=cols, rows=rows, lazy=True)
        out.append(prefix)
        out.snapshot()  # the model has taken in the prefix: the flood finds it in that state
        for at in range(len(prefix), len(stream), 7000):
            out.append(stream[at : at + 7000])
        out.snapshot()  # catches up, skipping what it may
        expected, history = _reference_snapshot(stream, cols, rows)
        assert out.model.snapshot(SNAPSHOT_HISTORY_LINES) == expected
        assert min(len(out.model.history), SNAPSHOT_HISTORY_LINES) == min(
            history, SNAPSHOT_HISTORY_LINES
        )

    asyncio.run(scenario())


async def test_a_flood_of_plain_lines_is_fed_to_the_model_only_from_its_newest_lines() -> None:
    """The skip happens (the test above would pass without it): of 5,000 plain lines
    the model keeps only those a snapshot may show, and shows what every byte shows."""
    stream = b"".join(b"%06d some log line of words\r\n" % i for i in range(5000))
    out = SessionOutput(capacity=8 << 20, cols=80, rows=24, lazy=True)
    for at in range(0, len(stream), 16384):
        out.append(stream[at : at + 16384])
    offset, _cols, _rows, _snapshot = out.snapshot()
    expected, history = _reference_snapshot(stream, 80, 24)
    assert offset == len(stream)
    assert out.model.snapshot(SNAPSHOT_HISTORY_LINES) == expected
    assert SNAPSHOT_HISTORY_LINES <= len(out.model.history) < history
