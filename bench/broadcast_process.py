"""The fan-out baseline: a bare websockets server broadcasting a file, in its own process.

It stands where the relay stands in the fan-out benchmark (its own process,
``write_limit`` 64 KiB and no permessage-deflate, as the relay serves) but does
nothing else: a client connects to ``/<clients>/<run>``; once ``<clients>``
clients of that run are connected, the file is sent to all of them in 16 KiB
frames with :func:`websockets.broadcast`, followed by one frame holding the
marker, and the connections are closed.

``broadcast()`` has no backpressure, so between frames the server waits while
any client's transport holds more than ``BUFFER_CAP`` bytes: the bytes still
leave as fast as the slowest client takes them, without buffering the whole
file once per client.

Run: ``python -m bench.broadcast_process FILE MARKER``; it prints
``READY <url> <pid>`` and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import defaultdict
from pathlib import Path

from websockets.asyncio.server import ServerConnection, broadcast, serve

FRAME = 16 * 1024
BUFFER_CAP = 4 * 1024 * 1024


class Runs:
    """Clients grouped by run; each run starts when its last client arrives."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.groups: dict[str, set[ServerConnection]] = defaultdict(set)
        self.started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        _, count, run = ws.request.path.split("/", 2)
        group = self.groups[run]
        group.add(ws)
        if len(group) == int(count):
            await self.send(list(group))
            self.started[run].set()
            del self.groups[run]
        await self.started[run].wait()
        await ws.wait_closed()

    async def send(self, clients: list[ServerConnection]) -> None:
        for frame in self.frames:
            broadcast(clients, frame)
            while max(ws.transport.get_write_buffer_size() for ws in clients) > BUFFER_CAP:
                await asyncio.sleep(0.0005)
            await asyncio.sleep(0)
        for ws in clients:
            await ws.close()


async def serve_file(path: Path, marker: bytes) -> None:
    data = path.read_bytes()
    frames = [data[i : i + FRAME] for i in range(0, len(data), FRAME)] + [marker]
    runs = Runs(frames)
    async with serve(
        runs.handle, "127.0.0.1", 0, write_limit=64 * 1024, compression=None, max_size=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print(f"READY ws://127.0.0.1:{port} {os.getpid()}", flush=True)
        await reader.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("marker")
    args = parser.parse_args()
    asyncio.run(serve_file(args.file, args.marker.encode()))


if __name__ == "__main__":
    main()
