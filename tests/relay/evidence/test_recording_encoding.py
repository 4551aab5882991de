"""The recorder's event lines: what any JSON reader gets back is exactly what was written.

The recorder encodes event lines with orjson (UTF-8, escaping only what JSON
requires), not with the json module. The oracle is the json module's parser
(and the project's own asciicast reader, which uses it): for every interval,
code and text, including control characters, non-BMP characters, U+2028 and
lone surrogates, the line parses back to the event. And the whole recorder,
fed arbitrary bytes cut anywhere (invalid UTF-8 included), records exactly
what decoding the whole stream at once with ``errors="replace"`` gives: the
documented rule for output that is not UTF-8.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.evidence.asciicast import iter_events, read_header
from relay.evidence.chain import ChainWriter
from relay.evidence.recording import event_line
from relay.evidence.verifier import verify_file
from relay.trust.keys import SigningKey
from tests.recordings import START, new_recording

KEY = SigningKey.generate()

# every code point, lone surrogates included (hypothesis leaves them out by default)
any_text = st.text(st.characters(exclude_categories=()), max_size=300)
# whole and cut characters, invalid bytes: what binary output and split reads look like
PIECES = [b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xc3", b"\xed\xa0\x80", b"\xff", b"a"]
intervals = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


@given(interval=intervals, code=st.characters(exclude_categories=()), data=any_text)
def test_an_event_line_parses_back_to_exactly_the_event(
    interval: float, code: str, data: str
) -> None:
    line = event_line(interval, code, data)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one line, whatever the text
    text = line.decode("utf-8")  # strict: the file is UTF-8 text
    assert json.loads(text) == [float(f"{interval:.6f}"), code, data]
    assert not line.startswith(b"#")


@given(data=st.text(st.characters(exclude_categories=("Cs",)), max_size=300))
def test_text_without_surrogates_is_written_as_utf8_not_escaped(data: str) -> None:
    """Only what JSON requires is escaped; everything else is the character's UTF-8."""
    line = event_line(0.5, "o", data)
    body = line[len(b'[0.500000, "o", "') : -len(b'"]\n')]
    required = {'"', "\\"} | {chr(c) for c in range(0x20)}
    if not required & set(data):
        assert body == data.encode()


@given(
    stream=st.binary(max_size=400) | st.lists(st.sampled_from(PIECES)).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    steps=st.lists(st.sampled_from([0.0, 0.001, 0.015, 0.03, 0.2]), min_size=13, max_size=13),
)
def test_recorded_output_is_the_stream_decoded_whole(
    stream: bytes, cuts: list[int], steps: list[float]
) -> None:
    """Chunks cut anywhere (through a character, through invalid bytes), sent at any pace:
    the ``o`` events, read back by the project's reader, join to the stream decoded at
    once with U+FFFD for what is not UTF-8, and the file verifies."""
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.cast"
        script = new_recording(path, KEY)
        now = START
        for chunk, step in zip(chunks, steps, strict=False):
            now += step
            script.rec.output(chunk, now)
            script.rec.tick(now)
        script.rec.event("x", {"reason": "done", "exit_status": 0}, now)
        script.rec.close("done", now)
        header = read_header(path)
        output = "".join(e.data for e in iter_events(path, header) if e.code == "o")
        assert output == stream.decode("utf-8", "replace")
        assert verify_file(path, KEY.public).ok


def test_the_chain_takes_utf8_bytes_and_refuses_what_would_break_the_file(
    tmp_path: Path,
) -> None:
    writer = ChainWriter(tmp_path / "c.log", KEY, "header")
    writer.append("text line", 1.0)
    writer.append("caf\u00e9 bytes line\n".encode(), 1.0)
    for bad, why in [
        (b"\xff not utf-8\n", "utf-8"),
        (b"#warroom-seal {}\n", "cannot start"),
        (b"two\nlines\n", "newline"),
    ]:
        with pytest.raises(ValueError, match=why):
            writer.append(bad, 1.0)
    writer.seal("done", 2.0)
    lines = (tmp_path / "c.log").read_text().splitlines()
    assert [line for line in lines[1:] if not line.startswith("#")] == [
        "text line",
        "caf\u00e9 bytes line",
    ]
    assert writer.lines == 2 and verify_file(tmp_path / "c.log", KEY.public).ok
