"""The bucket layout's rules, on generated histories of a growing file (pure, no S3).

What a crash leaves is decided by :mod:`relay.storage.layout`: the order of
each round's requests (puts, then deletes) and the chain a reader picks. So
the properties are checked after *every single request*, as if the relay were
killed right there.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from relay.storage.layout import (
    MAX_PARTS,
    PART_MIN,
    PIECE,
    ROLLUP_COUNT,
    Segment,
    audit_key,
    chain,
    parse_segment,
    plan_final,
    plan_round,
    recording_key,
)

KiB, MiB = 1 << 10, 1 << 20
# checkpoints of a quiet session (a few hundred bytes), of a busy one, and a backlog
growth = st.lists(
    st.one_of(
        st.integers(1, 4 * KiB),
        st.integers(4 * KiB, 2 * MiB),
        st.integers(2 * MiB, 40 * MiB),
    ),
    min_size=1,
    max_size=80,
)


def test_keys_name_the_file_and_its_byte_ranges() -> None:
    key = recording_key("prod/", "s1-20261127T101500Z.cast")
    assert key == "prod/recordings/s1-20261127T101500Z.cast"
    segment = Segment(1000, 2500)
    assert segment.key(key) == f"{key}.segments/000000000001000-000000000002500"
    assert parse_segment(key, segment.key(key)) == segment
    assert parse_segment(key, f"{key}.segments/5-5") is None  # empty
    assert parse_segment(key, f"{key}.segments/x-5") is None
    assert parse_segment("prod/recordings/s1.cast", segment.key(key)) is None
    assert audit_key("", "relay 1/a", "audit-2026-11-27-1.log") == (
        "audit/relay%201%2Fa/audit-2026-11-27-1.log"
    )


def test_the_chain_takes_the_furthest_run_from_zero() -> None:
    merged = Segment(10, 40)
    parts = {Segment(0, 10), Segment(10, 20), Segment(20, 30), merged, Segment(40, 50)}
    assert chain(parts) == (Segment(0, 10), merged, Segment(40, 50))
    # a longer run of small segments beats a shorter merged one
    assert chain({Segment(0, 10), Segment(0, 5), Segment(5, 20)}) == (
        Segment(0, 5),
        Segment(5, 20),
    )
    assert chain({Segment(5, 10)}) == ()  # nothing from the start: nothing proven
    assert chain({Segment(0, 10), Segment(20, 30)}) == (Segment(0, 10),)  # a gap ends it


@given(growth)
def test_every_request_of_every_round_leaves_a_verified_prefix(steps: list[int]) -> None:
    """Killed after any request, the bucket's chain is the file up to a checkpoint
    that was complete before the round began, or the round's own checkpoint."""
    bucket: set[Segment] = set()
    current: tuple[Segment, ...] = ()
    size = 0
    for step in steps:
        before, size = size, size + step
        plan = plan_round(current, size)
        for piece in plan.puts:
            bucket.add(piece)
            assert chain(bucket)[-1].end >= before
        assert chain(bucket)[-1].end == size
        for old in plan.deletes:
            bucket.discard(old)
            assert chain(bucket)[-1].end == size
        current = plan.chain
        assert chain(bucket) == current
        assert all(s.size <= PIECE for s in current)
        smalls = [s for s in current if not s.big]
        assert len(smalls) <= ROLLUP_COUNT
        assert sum(s.size for s in smalls) < PART_MIN + PIECE
        assert bucket == set(current)  # nothing is left behind


@given(growth)
def test_the_seal_composes_valid_parts_from_the_segments(steps: list[int]) -> None:
    current: tuple[Segment, ...] = ()
    size = 0
    for step in steps[:-1]:
        size += step
        current = plan_round(current, size).chain
    size += steps[-1]  # the seal comes with the last bytes
    final = plan_final(current, size)
    assert set(final.deletes) == set(current)
    if final.single:
        assert size <= PIECE and not final.copies and not final.uploads
        return
    parts = [*final.copies, *final.uploads]
    assert parts[0].start == 0 and parts[-1].end == size
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert all(p.size >= PART_MIN for p in parts[:-1])  # S3's rule for all but the last
    assert all(p.size <= PIECE for p in parts)
    assert set(final.copies) <= set(current)  # copied parts exist in the bucket
    assert len(parts) <= MAX_PARTS


def test_a_quiet_file_is_one_object_at_the_seal() -> None:
    current: tuple[Segment, ...] = ()
    for size in range(100, 5000, 100):  # 49 rounds of 100 bytes: merged at 32 small ones
        current = plan_round(current, size).chain
        assert len(current) <= ROLLUP_COUNT
    final = plan_final(current, 5000)
    assert final.single and set(final.deletes) == set(current)


def test_a_big_file_copies_its_big_segments_and_uploads_the_rest() -> None:
    current = plan_round((), 12 * MiB).chain  # one big segment (backlog or flood)
    current = plan_round(current, 12 * MiB + 300).chain  # then a small one
    final = plan_final(current, 12 * MiB + 500)
    assert final.copies == (Segment(0, 12 * MiB),)
    assert final.uploads == (Segment(12 * MiB, 12 * MiB + 500),)
