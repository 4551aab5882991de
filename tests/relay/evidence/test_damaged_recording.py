"""A recording with a damaged line plays up to the damage, and says where it stops and why.

The damage is real: one event line of a recording written by the relay's own
recorder is overwritten with bytes that are not JSON, as a bad disk block or
a careless edit leaves it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relay.evidence.replay import Player, Recording, index_path, load_index
from relay.trust.keys import SigningKey
from tests.recordings import sample_session
from tui.replay_app import ReplayApp
from tui.replay_screen import ReplayScreen

KEY = SigningKey.generate()


def damage(path: Path, needle: bytes) -> tuple[int, int]:
    """Overwrite the event line holding ``needle``; return its (line number, byte offset)."""
    data = path.read_bytes()
    start = data.rindex(b"\n", 0, data.index(needle)) + 1
    end = data.index(b"\n", start)
    path.write_bytes(data[:start] + b'[6.2, "o", "df \x00\xff garbage' + data[end:])
    return data.count(b"\n", 0, start) + 1, start


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, int, int]:
    path = sample_session(tmp_path / "s1.cast", KEY)
    line, offset = damage(path, b"Filesystem")
    return path, line, offset


def test_the_player_plays_up_to_the_damage(damaged: tuple[Path, int, int]) -> None:
    path, line, offset = damaged
    recording = Recording.open(path)
    found = recording.damage
    assert found is not None
    assert (found.line, found.offset) == (line, offset)
    assert found.reason.startswith("not a JSON event")
    assert recording.duration == pytest.approx(6.0)  # the last good event: bob typed df -h
    screen = Player(recording, 1e9).screen_text()
    assert screen.startswith("$ ls\ndisk  logs\n$")
    assert "Filesystem" not in screen
    assert found.describe() == (
        f"damaged at line {line} (byte {offset}): {found.reason}; playback stops there, at 00:06"
    )
    # the sidecar index keeps the finding
    saved = load_index(index_path(path))
    assert saved is not None and saved.damage == found


def test_an_intact_recording_and_a_cut_last_line_are_not_damage(tmp_path: Path) -> None:
    path = sample_session(tmp_path / "s1.cast", KEY)
    assert Recording.open(path).damage is None
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"found it") + 3])  # a crash cuts the last line
    assert Recording.open(path).damage is None


def test_replay_dump_prints_what_there_is_and_says_where_it_stops(
    damaged: tuple[Path, int, int],
) -> None:
    path, line, offset = damaged
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "replay", str(path), "--dump", "--at", "100"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("$ ls\ndisk  logs\n$")
    assert done.stderr.startswith(f"warroom: {path}: damaged at line {line} (byte {offset}): ")
    assert done.stderr.endswith("playback stops there, at 00:06\n")
    assert len(done.stderr.splitlines()) == 1


async def test_the_replay_screen_shows_a_banner(damaged: tuple[Path, int, int]) -> None:
    path, line, _ = damaged
    app = ReplayApp(Recording.open(path))
    async with app.run_test(size=(130, 34)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        banner = str(screen.query_one("#replay-damage").render())
        assert f"damaged at line {line}" in banner and "playback stops there" in banner
        await pilot.press("9")  # 90 %: as far as it goes
        await pilot.pause()
        assert "Filesystem" not in "\n".join(screen.player.model.display())


async def test_an_intact_recording_has_no_banner(tmp_path: Path) -> None:
    app = ReplayApp(Recording.open(sample_session(tmp_path / "s1.cast", KEY)))
    async with app.run_test(size=(130, 34)) as pilot:
        await pilot.pause()
        assert not app.screen.query("#replay-damage")
