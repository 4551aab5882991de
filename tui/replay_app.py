"""``warroom replay FILE``: a small app around :class:`tui.replay_screen.ReplayScreen`.

Separate from :class:`tui.app.WarroomApp` because a replay needs no relay, no
credentials and no connection: an auditor can run it on a laptop with only the
file (and, to verify it, the relay's public key).

``warroom replay URL [SESSION]`` (:func:`replay_from_relay`) logs in with
whatever the URL and flags give (an invite link, a stored login, an SSH key),
fetches the newest recording of the session (the one a session-bound invite
is for, when no session is named) and replays it; with neither, it opens the
recordings browser to choose one.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from textual import events

from relay.evidence.replay import Recording
from relay.trust.keys import VerifyKey
from tui.dialogs import typed_before
from tui.replay_screen import ReplayScreen
from tui.shown import PlainApp


class ReplayApp(PlainApp):
    """Replays one recording and exits with ``q``."""

    TITLE = "warroom replay"

    def __init__(self, recording: Recording, at: float = 0.0, key: VerifyKey | None = None):
        super().__init__()
        self.recording = recording
        self.at = at
        self.key = key

    def on_mount(self) -> None:
        self.push_screen(ReplayScreen(self.recording, at=self.at, key=self.key))

    async def on_event(self, event: events.Event) -> None:
        if self.screen_stack and typed_before(self.screen, event):
            return
        await super().on_event(event)


def open_recording(path: Path) -> Recording:
    """Open ``path`` (building its keyframe index if needed), showing progress on stderr.

    Indexing a large recording the first time takes a moment and says how far
    it is; the line is erased before the window opens, so nothing of it is
    left on the shell after quitting.
    """
    size = max(1, path.stat().st_size)
    shown = False
    terminal = sys.stderr.isatty()

    def progress(offset: int) -> None:
        nonlocal shown
        if terminal:
            shown = True
            print(
                f"\rwarroom: indexing {path.name}: {offset * 100 // size}%", end="", file=sys.stderr
            )

    try:
        return Recording.open(path, progress)
    finally:
        if shown:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def run_replay(path: Path, *, at: float = 0.0, key: VerifyKey | None = None) -> None:
    """Open the recording and run the replay."""
    ReplayApp(open_recording(path), at, key).run()


async def replay_from_relay(
    url: str,
    session: str | None,
    *,
    user: str = "",
    ssh_key: Path | None = None,
    directory: Path | None = None,
    at: float = 0.0,
    key: VerifyKey | None = None,
    ca_cert: Path | None = None,
) -> None:
    """``warroom replay URL [SESSION]``: one login, then the session's recording or the browser."""
    from relay.trust.identity import parse_join_target
    from tui.app import WarroomApp
    from tui.fetch import fetch_newest
    from tui.login import Connector

    target = parse_join_target(url)
    connector = Connector(target, user=user, key=ssh_key, ca_cert=ca_cert)
    client = await connector()
    wanted = session or target.session or connector.identity.get("session")
    if not wanted:
        try:
            await WarroomApp(connector, None, client=client, browse=True).run_async()
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        return
    try:
        path, _ = await fetch_newest(client, str(wanted), directory)
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    await ReplayApp(open_recording(path), at, key).run_async()
