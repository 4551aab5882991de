"""A session's output stream and its terminal model."""

from __future__ import annotations

from relay.output import RAW_BASE, SessionOutput


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
