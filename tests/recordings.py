"""Real recordings for tests, written by the relay's own recorder with a scripted clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from relay.core.session import Session
from relay.evidence.recording import Auditor, Recording
from relay.trust.keys import SigningKey

START = 1_790_000_000.0


@dataclass
class Script:
    """Drive a :class:`Recording` the way :class:`relay.net.live.LiveSession` does."""

    rec: Recording
    now: float = START
    screens: dict[float, str] = field(default_factory=dict)

    def at(self, seconds: float) -> Script:
        self.now = START + seconds
        self.rec.tick(self.now)
        return self

    def out(self, data: bytes) -> Script:
        self.rec.output(data, self.now)
        return self


def new_recording(
    path: Path,
    key: SigningKey,
    cols: int = 80,
    rows: int = 24,
    session: str = "s1",
    audit: Auditor | None = None,
) -> Script:
    core = Session(session, "sandbox", "alice", START, reason="INC-42: disk full")
    return Script(Recording(path, key, core, cols, rows, START, audit=audit))


def sample_session(
    path: Path, key: SigningKey, seal: bool = True, audit: Auditor | None = None
) -> Path:
    """A short session: join, drive, chat, hand-off, resize, exit status 0."""
    s = new_recording(path, key, audit=audit)
    rec = s.rec
    rec.event("j", {"user": "alice", "role": "lead", "id": "c1"}, s.now)
    rec.event("h", {"driver": "alice", "how": "owner"}, s.now)
    s.at(0.5).out(b"$ ")
    rec.input(b"ls\r", "alice", s.at(1.0).now)
    s.at(1.1).out(b"ls\r\n\x1b[34mdisk\x1b[0m  logs\r\n$ ")
    s.at(2.0)
    rec.event("j", {"user": "bob", "role": "viewer", "id": "c2"}, s.now)
    s.at(3.0)
    rec.event("c", {"user": "bob", "text": "check /var/log please"}, s.now)
    s.at(4.0)
    rec.event("h", {"request": "bob", "reason": "I know this host"}, s.now)
    rec.event("h", {"driver": "bob", "how": "granted", "by": "alice"}, s.at(5.0).now)
    rec.input(b"df -h\r", "bob", s.at(6.0).now)
    s.at(6.2).out(b"df -h\r\nFilesystem  Size  Used\r\n/dev/sda1   10G   10G\r\n$ ")
    rec.resize(100, 30, s.at(7.0).now)
    s.at(8.0)
    rec.event("c", {"user": "alice", "text": "found it"}, s.now)
    rec.event("l", {"user": "bob", "id": "c2", "reason": "left"}, s.at(9.0).now)
    s.at(10.0).out(b"exit\r\n")
    if seal:
        rec.event("x", {"reason": "the shell exited with status 0", "exit_status": 0}, s.now)
        rec.close("the shell exited with status 0", s.now)
    else:
        rec.tick(s.now + 5)
    return path
