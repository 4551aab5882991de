"""The replay screen, driven with Textual's Pilot: every key of the player."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from relay.evidence.replay import Recording
from relay.trust.keys import SigningKey
from tests.recordings import sample_session
from tui.replay_app import ReplayApp
from tui.replay_screen import ReplayScreen

KEY = SigningKey.generate()
SIZE = (130, 34)


@pytest.fixture
def recording(tmp_path: Path) -> Recording:
    return Recording.open(sample_session(tmp_path / "s1.cast", KEY))


def screen_of(app: ReplayApp) -> ReplayScreen:
    screen = app.screen
    assert isinstance(screen, ReplayScreen)
    return screen


def text_of(app: ReplayApp, selector: str) -> str:
    return str(screen_of(app).query_one(selector).render())


async def test_opens_with_terminal_timeline_chat_and_verdict(recording: Recording) -> None:
    app = ReplayApp(recording, at=5.5, key=KEY.public)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = screen_of(app)
        for _ in range(50):
            if "verified ✓" in text_of(app, "#replay-title"):
                break
            await pilot.pause(0.05)
        assert "s1 on sandbox · INC-42: disk full · verified ✓" in text_of(app, "#replay-title")
        assert "Driving: bob" in text_of(app, "#replay-driver")
        assert "bob (viewer)" in text_of(app, "#replay-people")
        assert "bob: check /var/log please" in text_of(app, "#replay-chat")
        assert "found it" not in text_of(app, "#replay-chat")
        assert "bob drives (granted by alice)" in text_of(app, "#replay-timeline")
        assert screen.query_one("#replay-terminal").screen_text()[1].startswith("disk  logs")  # type: ignore[attr-defined]


async def test_space_plays_and_pauses(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("space")
        assert screen.playing and "▶" in screen.status_line()
        # wait for the clock to move rather than for a fixed time: machines are noisy
        for _ in range(200):
            if screen.player.time > 0.2:
                break
            await pilot.pause(0.02)
        await pilot.press("space")
        assert not screen.playing
        played = screen.player.time
        assert played > 0.2
        await pilot.pause(0.2)
        assert screen.player.time == played


async def test_arrows_seek_five_seconds_and_shift_ten_percent(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("right")
        assert screen.player.time == pytest.approx(5.0)
        await pilot.press("right", "right")
        assert screen.player.time == pytest.approx(10.0)  # clamped to the end
        await pilot.press("left")
        assert screen.player.time == pytest.approx(5.0)
        await pilot.press("shift+left")
        assert screen.player.time == pytest.approx(4.0)
        await pilot.press("shift+right", "shift+right")
        assert screen.player.time == pytest.approx(6.0)
        assert "Filesystem" not in screen.player.screen_text()  # printed at 6.2
        await pilot.press("left", "left")
        assert screen.player.time == 0.0


async def test_brackets_go_to_previous_and_next_event(recording: Recording) -> None:
    app = ReplayApp(recording, at=2.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("right_square_bracket")
        assert screen.player.time == pytest.approx(3.0)  # bob's chat
        assert "check /var/log" in text_of(app, "#replay-chat")
        await pilot.press("right_square_bracket")
        assert screen.player.time == pytest.approx(4.0)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert screen.player.time == pytest.approx(2.0)  # bob joined
        assert "bob joined as viewer" in text_of(app, "#replay-timeline")


async def test_digits_jump_to_tenths(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        for digit in range(10):
            await pilot.press(str(digit))
            assert screen.player.time == pytest.approx(digit), digit


async def test_comma_and_full_stop_step_one_output_event(recording: Recording) -> None:
    app = ReplayApp(recording, at=2.0)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("full_stop")
        assert screen.player.time == pytest.approx(3.0)  # the next event of any kind
        await pilot.press("full_stop", "full_stop", "full_stop", "full_stop")
        assert screen.player.time == pytest.approx(6.2)
        assert "Filesystem" in "\n".join(screen.player.model.display())
        await pilot.press("comma")
        assert screen.player.time == pytest.approx(1.1)  # the output event before
        assert "Filesystem" not in "\n".join(screen.player.model.display())
        assert not screen.playing


async def test_plus_and_minus_change_speed_within_limits(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("plus")
        assert screen.speed == 2.0 and "2x" in screen.status_line()
        await pilot.press(*["plus"] * 6)
        assert screen.speed == 16.0
        await pilot.press(*["minus"] * 9)
        assert screen.speed == 0.25


async def test_slash_searches_the_output(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("slash")
        await pilot.press(*"filesystem", "enter")
        assert screen.player.time == pytest.approx(6.2)
        assert "found 'filesystem'" in screen.status_line()
        await pilot.press("slash", "ctrl+a", *"nothing like it", "enter")
        assert "not found" in screen.status_line()
        assert screen.player.time == pytest.approx(6.2)
        await pilot.press("slash", "escape")
        assert not screen.query_one("#replay-search").display


async def test_i_toggles_idle_compression(tmp_path: Path) -> None:
    path = tmp_path / "idle.cast"
    path.write_text(
        json.dumps({"version": 3, "term": {"cols": 20, "rows": 5}})
        + '\n[0.1, "o", "before"]\n[60.0, "o", " after"]\n'
    )
    app = ReplayApp(Recording.open(path))
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("i")
        assert screen.idle_compression and "idle compression on" in screen.status_line()
        await pilot.press(*["plus"] * 3, "space")  # 8x: the 2 s idle limit passes in 0.25 s
        for _ in range(40):
            await pilot.pause(0.05)
            if screen.player.time >= 60.1:
                break
        assert "before after" in screen.player.screen_text()
        await pilot.press("i")
        assert not screen.idle_compression


async def test_q_quits(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await asyncio.sleep(0.05)
    assert app.return_code == 0


async def test_plain_casts_are_marked_unverified(tmp_path: Path) -> None:
    path = tmp_path / "plain.cast"
    path.write_text(json.dumps({"version": 2, "width": 20, "height": 5}) + '\n[0.5, "o", "hi"]\n')
    app = ReplayApp(Recording.open(path))
    async with app.run_test(size=SIZE):
        assert "UNVERIFIED: plain asciicast v2" in text_of(app, "#replay-title")


async def test_a_tampered_recording_says_so(tmp_path: Path) -> None:
    path = sample_session(tmp_path / "t.cast", KEY)
    path.write_bytes(path.read_bytes().replace(b"disk", b"dusk", 1))
    app = ReplayApp(Recording.open(path), key=KEY.public)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            if "TAMPERED" in text_of(app, "#replay-title"):
                break
        assert "TAMPERED at line" in text_of(app, "#replay-title")


async def test_less_and_greater_change_speed_as_in_asciinema_player(recording: Recording) -> None:
    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("greater_than_sign")
        assert screen.speed == 2.0
        await pilot.press("less_than_sign", "less_than_sign")
        assert screen.speed == 0.5 and "0.5x" in screen.status_line()


async def test_footer_and_help_overlay_list_the_keys(recording: Recording) -> None:
    from textual.widgets import Footer

    from tui.handoff import HelpScreen

    app = ReplayApp(recording)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        assert screen.query_one(Footer).display
        shown = {a.binding.key_display for a in screen.active_bindings.values() if a.binding.show}
        assert {"<", ">", "?", "/"} <= shown
        assert "? keys" in screen.status_line()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for line in ("play/pause", "slower", "faster", "previous event", "0-9", "side panel"):
            assert line in text, line
        await pilot.press("x")  # any key closes it
        assert app.screen is screen
