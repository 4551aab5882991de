"""A syslog daemon the test controls: a unix datagram socket and the file it writes.

It receives what any syslog client sends (``<PRI>TAG[PID]: MESSAGE``) and
writes each message the way rsyslog's traditional format does
(``Mon DD HH:MM:SS host TAG[PID]: MESSAGE``), so the verifier reads the same
kind of export an operator would hand it. No part of warroom is involved.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

PRI = re.compile(rb"^<(\d{1,3})>")


class SyslogSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[bytes] = []
        self.priorities: list[int] = []
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syslog-sink", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self._keep(data)

    def _keep(self, data: bytes) -> None:
        match = PRI.match(data)
        with self._lock:
            self.priorities.append(int(match[1]) if match else -1)
            self.messages.append(data[match.end() :] if match else data)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` messages arrived (they are queued at send time)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} syslog messages arrived")
            time.sleep(0.01)

    def export(self, out: Path) -> Path:
        """The log as a syslog daemon writes it to disk."""
        with self._lock:
            messages = list(self.messages)
        stamp = time.strftime("%b %d %H:%M:%S")
        out.write_bytes(b"".join(f"{stamp} testhost ".encode() + m + b"\n" for m in messages))
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def __enter__(self) -> SyslogSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
