"""The chain writer with its hashing and writing on a thread (``background=True``).

The oracle is the same writer without the thread: for the same calls, the file
must come out byte for byte the same, and at every checkpoint the file on disk
must already hold everything that checkpoint signs (the recorder's loss bound
rests on it). A failure on the thread (a file grown past the process's size
limit, a real ``EFBIG`` from the kernel) must be raised by the writer's next
calls, and a relay whose recording fails that way ends the session.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from relay.evidence.chain import BACKGROUND_BYTES, ChainWriter, Checkpoint
from relay.evidence.verifier import verify_file
from relay.trust.identity import parse_join_target
from relay.trust.keys import SigningKey
from tests.relay.evidence.test_recording_live import WARROOM, _lead_invite
from tests.tools import stop
from tui.client import RelayClient

HEADER = json.dumps({"version": 3, "term": {"cols": 80, "rows": 24}})
KEY = SigningKey.generate()


class Writer:
    """A chain writer and what the file held on disk at each of its checkpoints."""

    def __init__(self, path: Path, background: bool) -> None:
        self.path = path
        self.on_disk: list[tuple[int, int, bytes]] = []  # (n, size, the file's bytes)
        self.chain = ChainWriter(
            path,
            KEY,
            HEADER,
            checkpoint_every_lines=40,
            checkpoint_every_seconds=0.1,
            on_checkpoint=self._checkpointed,
            background=background,
        )

    def _checkpointed(self, checkpoint: Checkpoint) -> None:
        self.on_disk.append((checkpoint.n, self.chain.size, self.path.read_bytes()))


def _line(rng: random.Random, i: int) -> str:
    size = rng.choice([1, 30, 500, 5_000, BACKGROUND_BYTES - 100, BACKGROUND_BYTES, 300_000])
    text = "".join(rng.choice("abc é\u2028") for _ in range(20)) * (size // 20 + 1)
    return json.dumps([i / 100, "o", f"{i}:{text[:size]}"], ensure_ascii=False)


@pytest.mark.parametrize("seed", range(6))
def test_the_background_writer_writes_what_the_plain_one_writes(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    calls: list[tuple[str, object, float]] = []
    now = 100.0
    for i in range(rng.randint(20, 160)):
        now += rng.choice([0.0, 0.001, 0.02, 0.05, 0.2])
        kind = rng.choices(["append", "checkpoint", "maybe", "flush", "hash"], [20, 1, 3, 1, 1])[0]
        calls.append((kind, _line(rng, i) if kind == "append" else None, now))
    writers = [Writer(tmp_path / f"{name}.cast", name == "thread") for name in ("plain", "thread")]
    for writer in writers:
        for kind, line, when in calls:
            match kind:
                case "append":
                    assert isinstance(line, str)
                    writer.chain.append(line.encode() if len(line) % 2 else line, when)
                case "checkpoint":
                    writer.chain.checkpoint(when)
                case "maybe":
                    writer.chain.maybe_checkpoint(when)
                case "flush":
                    writer.chain.flush()
                case "hash":
                    assert len(writer.chain.hash) == 64
        writer.chain.seal("done", now + 1)
    plain, thread = writers
    assert thread.path.read_bytes() == plain.path.read_bytes()
    # every checkpoint found the same bytes on disk: all it signs, nothing after it
    assert [(n, size, len(data)) for n, size, data in thread.on_disk] == [
        (n, size, len(data)) for n, size, data in plain.on_disk
    ]
    assert all(a[2] == b[2] for a, b in zip(thread.on_disk, plain.on_disk, strict=True))
    assert all(size == len(data) for _, size, data in thread.on_disk)
    report = verify_file(thread.path, KEY.public)
    assert report.sealed and report.finding is None
    assert report.lines == sum(kind == "append" for kind, _, _ in calls)


FILLER = """
import json, sys
from pathlib import Path
from relay.evidence.chain import ChainWriter
from relay.trust.keys import SigningKey
path, limit = Path(sys.argv[1]), int(sys.argv[2])
writer = ChainWriter(path, SigningKey.generate(), "{}", checkpoint_every_lines=10**6,
                     checkpoint_every_seconds=10**6, background=True)
raised = []
for i in range(200):  # 200 lines of 10 KiB: past the limit of the file's size
    try:
        writer.append(json.dumps([i, "o", "x" * 10240]), 1.0)
    except OSError as exc:  # once the thread failed (when is the thread's pace)
        raised.append(("append", exc.errno))
calls = [
    ("flush", writer.flush),  # waits for the thread: raises now whatever its pace
    ("append", lambda: writer.append('[2, "o", "x"]', 2.0)),
    ("checkpoint", lambda: writer.checkpoint(2.0)),
    ("seal", lambda: writer.seal("end", 3.0)),
]
for name, call in calls:
    try:
        call()
    except OSError as exc:
        raised.append((name, exc.errno))
print(json.dumps(raised))
"""


def limited(limit: int, command: list[str]) -> list[str]:
    """``command`` run with a file size limit (``RLIMIT_FSIZE``): a file that would grow
    past it fails to (``EFBIG``; Python ignores ``SIGXFSZ``)."""
    setup = (
        "import os, resource, sys; limit = int(sys.argv[1]); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
        "os.execv(sys.argv[2], sys.argv[2:])"
    )
    return [sys.executable, "-c", setup, str(limit), *command]


def test_a_failure_on_the_thread_is_raised_by_the_next_calls(tmp_path: Path) -> None:
    """A real write error (``EFBIG``: the file reached ``RLIMIT_FSIZE``; Python ignores
    ``SIGXFSZ``) happens on the writer's thread, and every call after it raises it."""
    limit = 500_000
    done = subprocess.run(
        limited(limit, [sys.executable, "-c", FILLER, str(tmp_path / "r.cast"), str(limit)]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    raised = json.loads(done.stdout)
    efbig = 27
    assert all(errno == efbig for _, errno in raised)
    appends = [name for name, _ in raised[:-4]]
    assert appends == ["append"] * len(appends)  # each after the failure raised it again
    assert [name for name, _ in raised[-4:]] == ["flush", "append", "checkpoint", "seal"]
    assert (tmp_path / "r.cast").stat().st_size <= limit
    report = verify_file(tmp_path / "r.cast", None)
    assert not report.sealed


async def test_a_recording_that_fails_on_its_thread_ends_the_session(tmp_path: Path) -> None:
    """A relay whose recording cannot grow (its size limit) ends the session for everyone,
    as when the recorder failed on the event loop, and the relay stays able to stop."""
    data = tmp_path / "data"
    limit = 2_000_000
    process = subprocess.Popen(
        limited(limit, [*WARROOM, "demo", "--headless", "--port", "0", "--data-dir", str(data)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        target = parse_join_target(await asyncio.to_thread(_lead_invite, process))
        lead = RelayClient(target.url)
        await lead.connect()
        await lead.auth_invite(target.invite or "")
        await lead.join("demo")
        await lead.send_input(b"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 8000000\r")
        reason = None
        async with asyncio.timeout(120):
            while reason is None:
                try:
                    await lead.recv()
                except ConnectionClosed as exc:
                    reason = exc.rcvd.reason if exc.rcvd else "closed without a reason"
        assert reason.startswith("session ended: internal error while processing output")
    finally:
        await stop(process, timeout=60)
    (path,) = (data / "recordings").glob("*.cast")
    assert path.stat().st_size <= limit
    assert verify_file(path, None).lines > 0  # what was proven before the failure stays
