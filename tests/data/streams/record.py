"""Record what a real program writes to an 80x24 xterm-256color PTY.

Used once to make the ``*.bin`` fixtures next to this file; kept so they can be
re-recorded (``python tests/data/streams/record.py``). Each recording starts
with some shell-like output on the main screen, so that the tests can check it
survives the program's alternate screen.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

HERE = Path(__file__).parent
PRELUDE = b"$ ls --color\r\n\x1b[01;34mbin\x1b[0m  \x1b[01;32mrun.sh\x1b[0m  notes.txt\r\n$ "


def record(argv: list[str], keys: list[bytes], cols: int = 80, rows: int = 24) -> bytes:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    out = bytearray(PRELUDE)

    def drain(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([master], [], [], left)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                out.extend(chunk)

    drain(1.0)
    for key in keys:
        os.write(master, key)
        drain(0.4)
    proc.wait(timeout=10)
    drain(0.3)
    os.close(master)
    return bytes(out)


def main() -> None:
    text = HERE / "sample.txt"
    text.write_text(
        "".join(f"line {i:3}: the quick brown fox — 日本語 ✓ jumps\n" for i in range(60))
    )
    try:
        streams = {
            "vim.bin": (
                ["vim", "-u", "NONE", "-N", "-c", "syntax on", str(text)],
                [b"5j", b"ihello \xe4\xb8\x96\xe7\x95\x8c\x1b", b"G", b"gg", b":q!\r"],
            ),
            "less.bin": (["less", str(text)], [b" ", b"/fox\r", b"G", b"q"]),
            "top.bin": (["top", "-d", "0.5"], [b"", b"", b"q"]),
        }
        for name, (argv, keys) in streams.items():
            (HERE / name).write_bytes(record(argv, keys))
            print(name, (HERE / name).stat().st_size, file=sys.stderr)
    finally:
        text.unlink()


if __name__ == "__main__":
    main()
