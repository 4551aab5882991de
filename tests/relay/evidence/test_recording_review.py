"""Recordings end to end on real files: record → verify → export → parse, tampering, replay."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from relay.cli.review import EXIT_OK, EXIT_TAMPERED, EXIT_UNSEALED
from relay.evidence.asciicast import iter_events, read_header
from relay.evidence.replay import (
    KEYFRAME_BYTES,
    Player,
    Recording,
    build_index,
    index_path,
    load_index,
    session_state,
)
from relay.trust.keys import SigningKey
from tests.recordings import new_recording, sample_session
from tui.cli import main

KEY = SigningKey.generate()
OTHER = SigningKey.generate()


@pytest.fixture
def cast(tmp_path: Path) -> Path:
    return sample_session(tmp_path / "s1.cast", KEY)


def verify(
    path: Path, capsys: pytest.CaptureFixture[str], key: SigningKey = KEY
) -> tuple[int, str]:
    code = main(["verify", str(path), "--key", key.public.text()])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def event_line(path: Path, needle: bytes) -> int:
    """The 1-based physical line number of the first line containing ``needle``."""
    return next(i for i, line in enumerate(lines_of(path), 1) if needle in line)


# ---------------------------------------------------------------- verify


def test_intact_recording_verifies_with_a_summary(
    cast: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = verify(cast, capsys)
    assert code == EXIT_OK
    assert "OK, 17 lines verified, sealed (the shell exited with status 0)" in text
    assert "session s1 on sandbox, opened by alice (INC-42: disk full)" in text


def test_an_edited_byte_is_named(cast: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = event_line(cast, b"disk")
    cast.write_bytes(cast.read_bytes().replace(b"disk", b"dusk", 1))
    code, text = verify(cast, capsys)
    assert code == EXIT_TAMPERED
    assert f"TAMPERED at line {line}: edited" in text


def test_a_dropped_line_is_named(cast: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(cast)
    dropped = event_line(cast, b"check /var/log")
    cast.write_bytes(b"".join(lines[: dropped - 1] + lines[dropped:]))
    code, text = verify(cast, capsys)
    assert code == EXIT_TAMPERED
    assert "dropped" in text and f"line {dropped}" in text


def test_a_reordered_line_is_named(cast: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(cast)
    a = event_line(cast, b'"e"')
    lines[a - 1], lines[a] = lines[a], lines[a - 1]  # the "e" and "x" lines
    cast.write_bytes(b"".join(lines))
    code, text = verify(cast, capsys)
    assert code == EXIT_TAMPERED
    span = re.search(r"[Ll]ines (\d+)-(\d+) hold the same lines in a different order", text)
    assert span is not None, text
    assert int(span[1]) <= a and a + 1 <= int(span[2])
    assert f"TAMPERED at line {span[1]}: reordered" in text


def test_a_recording_signed_by_another_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = sample_session(tmp_path / "forged.cast", OTHER)
    code, text = verify(forged, capsys, key=KEY)
    assert code == EXIT_TAMPERED
    assert "wrong-key" in text and OTHER.public.text() in text


def test_a_truncated_recording_reports_its_verified_prefix(
    cast: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = cast.read_bytes()
    cut_line = event_line(cast, b"found it")
    cast.write_bytes(data[: data.index(b"found it")])
    code, text = verify(cast, capsys)
    assert code == EXIT_UNSEALED
    assert "INTERRUPTED (no seal)" in text
    prefix = int(text.split("the first ")[1].split(" ")[0])
    assert prefix == cut_line - 1  # up to the checkpoint just before the cut line
    assert "the last line is incomplete" in text


def test_an_interrupted_recording_is_not_called_tampered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sample_session(tmp_path / "crash.cast", KEY, seal=False)
    code, text = verify(path, capsys)
    assert code == EXIT_UNSEALED
    assert "TAMPERED" not in text


def test_verify_takes_the_key_from_a_file(cast: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "relay.pub"
    key_file.write_text(KEY.public.text() + "\n")
    assert main(["verify", str(cast), "--key", str(key_file)]) == EXIT_OK
    assert main(["verify", str(tmp_path / "missing.cast")]) == 2


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["asciicast-v2", "asciicast-v3"])
def test_export_round_trip(cast: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"export-{fmt}.cast"
    assert main(["export", str(cast), "--format", fmt, "-o", str(out)]) == 0
    assert b"#" not in out.read_bytes().split(b"\n", 1)[1]  # no comment lines
    header = read_header(out)
    assert header.version == int(fmt[-1]) and header.warroom is None
    assert (header.cols, header.rows) == (80, 24)
    events = list(iter_events(out, header))
    codes = {e.code for e in events}
    assert codes <= ({"o", "r", "m"} | ({"x"} if fmt.endswith("v3") else set()))
    markers = [e.data for e in events if e.code == "m"]
    assert "bob: check /var/log please" in markers
    assert "bob drives (granted by alice)" in markers
    original = [e for e in iter_events(cast, read_header(cast)) if e.code == "o"]
    exported = [e for e in events if e.code == "o"]
    assert [e.data for e in exported] == [e.data for e in original]
    assert [round(e.time, 6) for e in exported] == [round(e.time, 6) for e in original]
    # and the export replays to the same final screen
    assert (
        Player(Recording.open(out), 1e9).screen_text()
        == Player(Recording.open(cast), 1e9).screen_text()
    )


def test_asciinema_cat_reads_the_v2_export(cast: Path, tmp_path: Path) -> None:
    pytest.importorskip("asciinema")
    out = tmp_path / "v2.cast"
    assert main(["export", str(cast), "--format", "asciicast-v2", "-o", str(out)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "asciinema", "cat", str(out)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"Filesystem  Size  Used" in done.stdout
    assert b"check /var/log" not in done.stdout  # markers are not output


def test_export_leaves_input_out_unless_asked(cast: Path, tmp_path: Path) -> None:
    out = tmp_path / "in.cast"
    assert main(["export", str(cast), "-o", str(out), "--input"]) == 0
    inputs = [e.data for e in iter_events(out, read_header(out)) if e.code == "i"]
    assert inputs == ["ls\r", "df -h\r"]


# ---------------------------------------------------------------- replay model


def test_dump_at_several_moments(cast: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = {
        0.2: "",
        0.7: "$",
        1.5: "$ ls\ndisk  logs\n$",
        9.5: "$ ls\ndisk  logs\n$ df -h\nFilesystem  Size  Used\n/dev/sda1   10G   10G\n$",
    }
    for at, screen in expected.items():
        assert main(["replay", str(cast), "--at", str(at), "--dump"]) == 0
        assert capsys.readouterr().out == screen + "\n"


def test_session_state_follows_the_marks(cast: Path) -> None:
    marks = Recording.open(cast).marks
    assert session_state(marks, 1.0).driver == "alice"
    state = session_state(marks, 5.5)
    assert state.driver == "bob"
    assert state.participants == (("alice", "lead"), ("bob", "viewer"))
    assert [text for _, _, text in state.chat] == ["check /var/log please"]
    end = session_state(marks, 10.0)
    assert end.participants == (("alice", "lead"),)
    assert end.ended == "the shell exited with status 0" and end.driver is None


def test_seek_matches_playing_from_the_start(tmp_path: Path) -> None:
    """Keyframes in the middle of a long recording restore exactly the fed screen."""
    s = new_recording(tmp_path / "long.cast", KEY)
    for i in range(3000):
        s.at(i * 0.1).out(f"\x1b[3{i % 8}mline {i}\x1b[0m {'x' * (i % 70)}\r\n".encode())
        if i == 1500:
            s.out(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen\x1b[5;5Hhere")
        if i == 1900:
            s.out(b"\x1b[?1049l")
    s.rec.close("done", s.now)
    header = read_header(s.rec.path)
    index = build_index(s.rec.path, header, every_bytes=4096)
    assert len(index.keyframes) > 20
    recording = Recording(s.rec.path, header, index)
    for at in (12.34, 150.05, 160.0, 189.99, 250.0, 299.9):
        seeked = Player(recording, at)
        played = Player(recording, 0.0)
        played.model.feed(b"")
        for step in range(int(at * 10) + 1):
            played.advance(min(at, step * 0.1))
        assert seeked.screen_text() == played.screen_text(), at
        assert seeked.model.alternate == played.model.alternate


def test_index_is_kept_and_rebuilt_when_stale(cast: Path) -> None:
    first = Recording.open(cast)
    assert first.rebuilt_index and index_path(cast).exists()
    assert not Recording.open(cast).rebuilt_index
    with cast.open("ab") as handle:
        handle.write(b'[1.0, "o", "more"]\n')
    again = Recording.open(cast)
    assert again.rebuilt_index and again.duration == pytest.approx(11.0)
    index_path(cast).write_bytes(b"garbage")
    assert load_index(index_path(cast)) is None
    assert Recording.open(cast).rebuilt_index


def test_index_building_uses_the_configured_spacing(cast: Path) -> None:
    assert KEYFRAME_BYTES >= 64 * 1024
    index = build_index(cast, read_header(cast), every_events=3)
    assert [k.events for k in index.keyframes] == [0, 3, 6, 9, 12, 15]


def test_search_and_steps(cast: Path) -> None:
    recording = Recording.open(cast)
    assert recording.find("FILESYSTEM", 0.0) == pytest.approx(6.2)
    assert recording.find("logs", 6.2) == pytest.approx(1.1)  # wraps around
    assert recording.find("no such text", 0.0) is None
    assert recording.previous_event_time(6.2) == pytest.approx(1.1)
    assert recording.previous_event_time(0.5) is None


def test_plain_asciicast_files_open_unverified(tmp_path: Path) -> None:
    v2 = tmp_path / "plain-v2.cast"
    v2.write_text(
        json.dumps({"version": 2, "width": 20, "height": 5})
        + '\n[0.5, "o", "hello"]\n[1.5, "o", "\\r\\nworld"]\n[2.0, "m", "chapter"]\n'
    )
    v3 = tmp_path / "plain-v3.cast"
    v3.write_text(
        json.dumps({"version": 3, "term": {"cols": 20, "rows": 5}})
        + '\n# a comment\n[0.5, "o", "hello"]\n[1.0, "o", "\\r\\nworld"]\n[0.5, "x", "0"]\n'
    )
    for path in (v2, v3):
        recording = Recording.open(path)
        assert not recording.is_warroom
        assert Player(recording, 1.0).screen_text() == "hello"
        assert Player(recording, 2.0).screen_text() == "hello\nworld"
        assert recording.duration == 2.0


def test_a_crash_cut_last_line_is_ignored(cast: Path) -> None:
    data = cast.read_bytes()
    cast.write_bytes(data[: data.index(b"found it")])
    recording = Recording.open(cast)
    assert recording.duration == pytest.approx(7.0)  # the cut chat line at 8.0 is gone
    assert "df -h" in Player(recording, 100).screen_text()


def test_export_of_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    assert main(["export", str(tmp_path / "nope.cast"), "-o", os.devnull]) == 2


@pytest.mark.parametrize("verb", ["verify", "export", "replay"])
def test_review_verbs_have_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([verb, "--help"])
    assert done.value.code == 0 and f"usage: warroom {verb}" in capsys.readouterr().out
