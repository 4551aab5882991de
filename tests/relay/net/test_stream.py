"""The output ring: offsets, eviction and reads across chunk boundaries."""

from __future__ import annotations

import random

import pytest

from relay.net.stream import OutputStream


def test_reads_return_exactly_what_was_appended() -> None:
    rng = random.Random(7)
    stream = OutputStream(capacity=1 << 30)
    blob = bytearray()
    for _ in range(500):
        chunk = rng.randbytes(rng.randint(1, 300))
        assert stream.append(chunk) == len(blob)
        blob += chunk
    for _ in range(500):
        offset = rng.randint(0, len(blob))
        limit = rng.randint(1, 2000)
        assert stream.read(offset, limit) == bytes(blob[offset : offset + limit])


def test_eviction_keeps_at_least_capacity() -> None:
    stream = OutputStream(capacity=1000)
    for i in range(100):
        stream.append(bytes([i % 256]) * 100)
    assert stream.end == 10_000
    assert stream.end - stream.start >= 1000
    assert stream.end - stream.start < 1100
    with pytest.raises(LookupError):
        stream.read(stream.start - 1, 10)
    assert stream.read(stream.start, 1) == bytes([(stream.start // 100) % 256])


def test_offset_in_the_future_is_refused() -> None:
    stream = OutputStream(capacity=10)
    stream.append(b"abc")
    assert stream.read(3, 10) == b""
    with pytest.raises(ValueError):
        stream.read(4, 10)


def test_compaction_keeps_offsets_right() -> None:
    stream = OutputStream(capacity=10)
    for i in range(5000):
        stream.append(str(i % 10).encode())
    assert stream.read(stream.end - 3, 10) == b"789"


def test_empty_append_is_a_no_op() -> None:
    stream = OutputStream(capacity=10)
    assert stream.append(b"") == 0
    assert stream.end == 0 and stream.read(0, 5) == b""


def test_offsets_can_start_at_a_base() -> None:
    stream = OutputStream(capacity=10, base=1 << 62)
    assert stream.append(b"abc") == 1 << 62
    assert stream.read((1 << 62) + 1, 10) == b"bc"
    with pytest.raises(LookupError):
        stream.read(0, 1)


def test_eviction_never_passes_the_floor_and_resumes_once_it_moves() -> None:
    rng = random.Random(11)
    stream = OutputStream(capacity=1000)
    cursor = 0  # a reader who must see every byte, reading in bursts
    stream.floor = lambda: cursor
    blob = bytearray()
    for _ in range(2000):
        chunk = rng.randbytes(rng.randint(1, 400))
        stream.append(chunk)
        blob += chunk
        assert stream.start <= cursor  # never evicted past the reader
        # what the floor costs: only the bytes the reader still owes, beyond capacity
        assert stream.end - stream.start < max(1000 + 400, stream.end - cursor + 400)
        if rng.random() < 0.3:
            cursor = rng.randint(cursor, stream.end)
            assert stream.read(cursor, 50) == bytes(blob[cursor : cursor + 50])
    stream.floor = None
    stream.append(b"x")
    assert stream.end - stream.start < 1000 + 400


def test_a_large_append_is_evicted_piece_by_piece() -> None:
    from relay.net.stream import PIECE

    stream = OutputStream(capacity=4 * PIECE)
    blob = bytes(range(256)) * (10 * PIECE // 256)
    for _ in range(3):
        stream.append(blob)  # one batch far larger than the ring
        assert 4 * PIECE <= stream.end - stream.start <= 5 * PIECE
    assert stream.read(stream.end - 10, 10) == blob[-10:]
