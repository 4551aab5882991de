"""The output ring: offsets, eviction and reads across chunk boundaries."""

from __future__ import annotations

import random

import pytest

from relay.stream import OutputStream


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
