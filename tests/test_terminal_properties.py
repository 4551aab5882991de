"""Properties of the terminal model over generated streams (tests/terminal_streams.py).

The fast path (``TerminalModel()``) must be indistinguishable from the
character-by-character reference path (``TerminalModel(fast=False)``): after
every feed of every chunking, the same cells (text and attributes) on both
screens, cursor and pending-wrap state, pen, saved cursors, modes, margins,
tab stops, REP's character, the parser's carry-over, and the same rows marked
dirty. Examples are what found ``echo OK`` showing nothing.

CI runs the ``ci`` hypothesis profile (derandomized, bounded); ``make fuzz``
runs the ``fuzz`` profile (random seeds, many more examples). See
tests/conftest.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.terminal import TerminalModel
from tests.terminal_streams import SIZES, chunked, shell_streams, streams
from tests.test_terminal import state

#: At least 200 examples each (more under ``make fuzz``): few examples reach some paths.
EXAMPLES = settings(max_examples=max(200, settings.default.max_examples))


def assert_fast_equals_reference(chunks: list[bytes], cols: int, rows: int) -> None:
    fast = TerminalModel(cols, rows)
    slow = TerminalModel(cols, rows, fast=False)
    for i, chunk in enumerate(chunks):
        fast.feed(chunk)
        slow.feed(chunk)
        assert fast.dirty == slow.dirty, f"dirty rows after feed {i}"
        fast.dirty.clear()
        slow.dirty.clear()
        assert state(fast) == state(slow), f"after feed {i}"


@EXAMPLES
@given(st.data(), shell_streams(), st.sampled_from(SIZES))
def test_fast_path_equals_reference_path_on_shell_output(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    chunks = data.draw(chunked(stream.encode()))
    assert_fast_equals_reference(chunks, *size)


@EXAMPLES
@given(st.data(), streams(), st.sampled_from(SIZES))
def test_fast_path_equals_reference_path_on_anything(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    chunks = data.draw(chunked(stream.encode()))
    assert_fast_equals_reference(chunks, *size)


@EXAMPLES
@given(st.data(), st.one_of(shell_streams(), streams()), st.sampled_from(SIZES))
def test_chunking_changes_nothing(data: st.DataObject, stream: str, size: tuple[int, int]) -> None:
    """Split UTF-8 characters and sequences are carried over to the next feed."""
    encoded = stream.encode()
    whole = TerminalModel(*size)
    whole.feed(encoded)
    split = TerminalModel(*size)
    for chunk in data.draw(chunked(encoded)):
        split.feed(chunk)
    assert state(split) == state(whole)
