"""Row 3: keystroke echo latency through the relay (10 viewers watching) vs direct SSH.

Both sides run ``cat > /dev/null`` in the PTY, so each keystroke is echoed by
the kernel's line discipline at once, and type one letter at a time, waiting
for its echo before the next (a return every 50 letters keeps the line short).
Blocks of keystrokes alternate between the relay and direct asyncssh on the
same sshd; percentiles are over all keystrokes of each side.
"""

from __future__ import annotations

import asyncio
import string
import time
from collections.abc import Awaitable, Callable

from bench.rig import OUTPUT, Child, DirectShell, RelaySession, Rig, Scanner, drain, marker
from bench.table import Row, percentile

LETTERS = string.ascii_lowercase
PAUSE = 0.002  # between keystrokes: a fast typist, not a paste
LINE = 50

Send = Callable[[bytes], Awaitable[None]]
Expect = Callable[[bytes], Awaitable[float]]


async def _type(send: Send, expect: Expect, count: int, offset: int) -> list[float]:
    """Milliseconds from sending each keystroke to seeing its echo."""
    samples = []
    for i in range(count):
        key = b"\r" if (i + 1) % LINE == 0 else LETTERS[(offset + i) % 26].encode()
        awaited = expect(b"\n" if key == b"\r" else key)
        start = time.perf_counter()
        await send(key)
        end = await asyncio.wait_for(awaited, 10)
        if key != b"\r":
            samples.append((end - start) * 1000)
        await asyncio.sleep(PAUSE)
    return samples


async def _relay_expect_factory(live: RelaySession) -> Expect:
    ws = live.lead.ws
    assert ws is not None

    async def expect(needle: bytes) -> float:
        scanner = Scanner(needle)
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes) and frame[0] == OUTPUT and scanner.feed(frame, 9):
                return time.perf_counter()

    return expect


async def echo_latency(rig: Rig, relay: Child, keystrokes: int, blocks: int = 3) -> list[Row]:
    live = await RelaySession.open(rig, relay, viewers=10)
    watchers = [asyncio.create_task(drain(v.ws)) for v in live.viewers if v.ws is not None]
    direct = await DirectShell.open(rig.sshd)
    relay_ms: list[float] = []
    direct_ms: list[float] = []
    try:
        await live.lead.send_input(b"stty echo; cat > /dev/null\r")
        direct.channel.write(b"stty echo; cat > /dev/null\r")
        await asyncio.sleep(0.5)
        relay_expect = await _relay_expect_factory(live)
        # drop what the command printed before cat started
        await live.lead.send_input(b"z")
        await relay_expect(b"z")

        async def relay_send(data: bytes) -> None:
            await live.lead.send_input(data)

        async def direct_send(data: bytes) -> None:
            direct.channel.write(data)

        def direct_expect(needle: bytes) -> Awaitable[float]:
            return direct.sink.expect(needle)

        per_block = max(1, keystrokes // blocks)
        for block in range(blocks):
            relay_ms += await _type(relay_send, relay_expect, per_block, block)
            direct_ms += await _type(direct_send, direct_expect, per_block, block)
        echo, needle = marker("L")
        # ^C flushes the tty's input queue: type the marker only once the shell is back
        await live.lead.send_input(b"\x03")
        await asyncio.sleep(0.3)
        await live.lead.send_input(f"{echo}\r".encode())
        await asyncio.wait_for(relay_expect(needle), 10)
    finally:
        for task in watchers:
            task.cancel()
        await direct.close()
        await live.end()
    rows = []
    for q, budget in ((50, 1.0), (99, 5.0)):
        value = percentile(relay_ms, q)
        base = percentile(direct_ms, q)
        extra = value - base
        rows.append(
            Row(
                "3",
                f"keystroke echo p{q}, 10 viewers",
                f"{value:.2f} ms",
                f"{base:.2f} ms",
                f"+{extra:.2f} ms",
                f"<= +{budget:g} ms",
                "pass" if extra <= budget else f"GAP {extra - budget:.2f} ms",
                f"{len(relay_ms)} keystrokes through the relay, {len(direct_ms)} direct"
                if q == 50
                else "",
            )
        )
    return rows
