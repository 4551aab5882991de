"""What a crash may cost a recording: output older than ``max_loss`` is always proven.

Proven means in the verified prefix on disk (hashed, signed, handed to the OS),
so a SIGKILL cannot take it. The rule is checked twice: on the recorder with a
scripted clock after every call (an exact property), and on a real relay
process killed with SIGKILL while output flows, comparing what a viewer had
received with what the recording proves, by the timestamps inside the output.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

from relay.core.protocol import OutputChunk
from relay.evidence.recording import COALESCE_SECONDS, MAX_LOSS
from relay.evidence.verifier import verify_file
from relay.trust.identity import parse_join_target
from relay.trust.keys import VerifyKey
from tests.recordings import START, new_recording
from tests.relay.evidence.test_evidence import KEY
from tests.relay.evidence.test_recording_live import WARROOM, _lead_invite
from tui.client import RelayClient


def proven_output(path: Path, key: VerifyKey | None = KEY.public) -> str:
    """The output text in the recording's verified prefix."""
    report = verify_file(path, key)
    lines = path.read_bytes().splitlines()[1 : report.verified_prefix_lines]
    events = [json.loads(line) for line in lines if not line.startswith(b"#")]
    return "".join(data for _, code, data in events if code == "o")


def test_output_older_than_max_loss_is_always_proven(tmp_path: Path) -> None:
    rng = random.Random(7)
    script = new_recording(tmp_path / "r.cast", KEY)
    rec = script.rec
    fed: list[tuple[float, str]] = []
    now = START
    for i in range(250):
        # bursts and pauses: 1 ms apart up to 0.4 s apart
        now += rng.choice([0.001, 0.004, 0.015, 0.03, 0.09, 0.16, 0.4])
        chunk = f"line {i:04d}\r\n"
        rec.output(chunk.encode(), now)
        fed.append((now, chunk))
        due = rec.due()
        assert due is not None and due - now <= MAX_LOSS  # the session will call tick by then
        old = "".join(text for arrived, text in fed if arrived <= now - MAX_LOSS)
        assert proven_output(tmp_path / "r.cast").startswith(old), i
    while (due := rec.due()) is not None:  # output stops: the timer alone proves the rest
        assert due - now <= MAX_LOSS
        rec.tick(due)
    assert proven_output(tmp_path / "r.cast") == "".join(text for _, text in fed)


def test_checkpoints_stay_few_while_output_floods(tmp_path: Path) -> None:
    script = new_recording(tmp_path / "r.cast", KEY)
    for i in range(5000):  # 5 s of output, a chunk every millisecond
        script.rec.output(b"x" * 100, START + i / 1000)
    lines = (tmp_path / "r.cast").read_text().splitlines()
    checkpoints = sum(line.startswith("#warroom-checkpoint") for line in lines)
    # one per max_loss, less the coalescing window by which a written line can be late
    assert checkpoints <= 5 / (MAX_LOSS - COALESCE_SECONDS) + 1


STAMPED = re.compile(rb"L(\d{7}) (\d+\.\d{6})\r\n")
PRINTER = (
    "import itertools, sys, time\n"
    "for i in itertools.count():\n"
    "    sys.stdout.write('L%07d %.6f\\n' % (i, time.time())); sys.stdout.flush()\n"
    "    time.sleep(0.002)\n"
)


def stamped_lines(data: bytes) -> dict[int, float]:
    """Line number -> the target's clock when it printed the line."""
    return {int(m[1]): float(m[2]) for m in STAMPED.finditer(data)}


async def test_sigkill_loses_at_most_max_loss_of_what_viewers_saw(tmp_path: Path) -> None:
    """A real relay, SIGKILLed while a program prints a stamped line every 2 ms.

    Every line the viewer had received is checked against the recording's
    verified prefix: the lines missing from it must all have been printed
    within the last ``max_loss`` before the newest line the viewer saw, plus the
    delay the relay showed between a program printing and the relay reading
    (measured from the proven events, whose times are the relay's).
    """
    data = tmp_path / "data"
    script = tmp_path / "printer.py"
    script.write_text(PRINTER)
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen = bytearray()
    try:
        target = parse_join_target(await asyncio.to_thread(_lead_invite, process))
        lead = RelayClient(target.url)
        await lead.connect()
        await lead.auth_invite(target.invite or "")
        await lead.join("demo")
        await lead.send_input(f"{sys.executable} {script}\r".encode())
        async with asyncio.timeout(60):
            while len(STAMPED.findall(seen)) < 600:  # over a second of flow
                event = await lead.recv()
                if isinstance(event, OutputChunk):
                    seen += event.data
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
    received = stamped_lines(bytes(seen))
    (path,) = (data / "recordings").glob("*.cast")
    proven = stamped_lines(proven_output(path, None).encode())
    assert proven, "nothing of the flow was proven"
    newest = max(received)
    unproven = [n for n in received if n not in proven]
    assert all(n > max(proven) for n in unproven), "a gap inside the proven prefix"
    assert all(n in proven for n in received if n <= max(proven))
    lag = relay_read_lag(path, proven)
    allowed = MAX_LOSS + lag + 0.05
    oldest_lost = min(unproven, default=newest)
    lost = received[newest] - received[oldest_lost]
    assert lost <= allowed, (
        f"{len(unproven)} received line(s) not proven, spanning {lost:.3f} s of output "
        f"(allowed {allowed:.3f} s: max_loss {MAX_LOSS} + the relay's read lag {lag:.3f} s)"
    )


def relay_read_lag(path: Path, proven: dict[int, float]) -> float:
    """The longest the relay took to read a line after the program printed it (last second).

    An output event's time is when the relay read its first chunk; the first
    line that starts inside it was printed at its stamp.
    """
    lines = path.read_bytes().splitlines()
    header = json.loads(lines[0])
    clock = float(header["warroom"]["started_at"])
    lags: list[tuple[float, float]] = []
    for raw in lines[1:]:
        if raw.startswith(b"#"):
            continue
        interval, code, text = json.loads(raw)
        clock += interval
        match = STAMPED.search(text.encode()) if code == "o" else None
        if match and int(match[1]) in proven:
            lags.append((clock, clock - float(match[2])))
    last = max(t for t, _ in lags)
    return max(0.0, *(lag for t, lag in lags if t >= last - 1.0))
