"""``warroom replay FILE``: a small app around :class:`tui.replay_screen.ReplayScreen`.

Separate from :class:`tui.app.WarroomApp` because a replay needs no relay, no
credentials and no connection: an auditor can run it on a laptop with only the
file (and, to verify it, the relay's public key).
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App

from relay.keys import VerifyKey
from relay.replay import Recording
from tui.replay_screen import ReplayScreen


class ReplayApp(App[None]):
    """Replays one recording and exits with ``q``."""

    TITLE = "warroom replay"

    def __init__(self, recording: Recording, at: float = 0.0, key: VerifyKey | None = None):
        super().__init__()
        self.recording = recording
        self.at = at
        self.key = key

    def on_mount(self) -> None:
        self.push_screen(ReplayScreen(self.recording, at=self.at, key=self.key))


def run_replay(path: Path, *, at: float = 0.0, key: VerifyKey | None = None) -> None:
    """Open the recording (building its keyframe index if needed) and run the replay."""
    size = max(1, path.stat().st_size)

    def progress(offset: int) -> None:
        # Only the first replay of a large recording takes long enough to need this.
        print(f"\rwarroom: indexing {path.name}: {offset * 100 // size}%", end="", file=sys.stderr)

    recording = Recording.open(path, progress)
    if recording.rebuilt_index and size > (8 << 20):
        print(file=sys.stderr)
    ReplayApp(recording, at, key).run()
