"""Row 8: the relay's RSS with 10 sessions x 10 viewers while output flows.

A fresh relay process (recording on) is measured idle, then with ten sessions
on the sshd, each with its driving lead and ten viewers joined, then while
every session prints the same amount of output at once (all 110 clients read
everything), and after. The baseline column is the idle relay.
"""

from __future__ import annotations

import asyncio

from bench.rig import Child, RelaySession, Rig, RssSampler, flood_command, rss_mb
from bench.table import Row

SESSIONS = 10
VIEWERS = 10


async def memory(rig: Rig, relay: Child, output: int) -> list[Row]:
    await asyncio.sleep(0.5)
    idle = rss_mb(relay.pid)
    sessions: list[RelaySession] = []
    try:
        for _ in range(SESSIONS):
            sessions.append(await RelaySession.open(rig, relay, viewers=VIEWERS))
        await asyncio.sleep(0.5)
        joined = rss_mb(relay.pid)
        path = rig.data_file("flood", output)
        command = flood_command(path, head=output)
        with RssSampler(relay.pid) as rss:
            await asyncio.gather(*(s.run(command, f"M{i}") for i, s in enumerate(sessions)))
        await asyncio.sleep(0.5)
        after = rss_mb(relay.pid)
    finally:
        for live in sessions:
            await live.end()
    per_client = (joined - idle) / (SESSIONS * (VIEWERS + 1))
    return [
        Row(
            "8",
            f"memory: {SESSIONS} sessions x {VIEWERS} viewers",
            f"{rss.peak:.0f} MB",
            f"{idle:.0f} MB",
            "-",
            "report",
            "measured",
            f"relay VmRSS idle {idle:.0f} MB; joined (10 leads + 100 viewers, no output) "
            f"{joined:.0f} MB ({per_client * 1024:.0f} KB per client incl. its session share); "
            f"peak while each session printed {output / 2**20:.0f} MiB at once "
            f"{rss.peak:.0f} MB; after {after:.0f} MB (each session keeps an 8 MiB "
            f"output ring, Limits.output_buffer)",
        )
    ]
