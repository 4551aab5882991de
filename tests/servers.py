"""What the servers the tests start (sshd, moto, PostgreSQL) have in common.

Each runs as a child process on a free loopback port; another process may take
that port between our pick and the server's bind, so starting retries on a
fresh port. Stopping signals the process, waits a bounded time, then kills and
reaps it, so that no test leaves a server behind.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

START_ATTEMPTS = 3
"""Attempts at a free port: another process may take the one we picked first."""


def free_port(host: str) -> int:
    """A port that is free right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server process: ``_launch`` starts it on ``self.port`` and waits until it
    answers (raising ``RuntimeError`` if it does not); ``stop`` ends it."""

    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 5.0
    log_path: Path  # where the server's output goes; each server names it

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    def _launch(self) -> None:
        raise NotImplementedError

    def _wait_until_it_answers(
        self, answers: Callable[[], bool], timeout: float, *, poll: float = 0.05
    ) -> None:
        """Return once ``answers()``; raise ``RuntimeError`` with the log's tail if the
        process exits first or ``timeout`` seconds pass (a slow start on a loaded machine
        and a failed one look the same until then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                break
            if answers():
                return
            time.sleep(poll)
        name = type(self).__name__
        raise RuntimeError(f"{name} did not start on port {self.port}: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote, for a failure message."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"

    def _launch_on_a_free_port(self, keep: int | None = None) -> None:
        """Launch on a free port, retrying on another one if the pick was taken.

        ``keep``: the port to try first; a server restarting where its clients
        expect it. Later attempts pick free ports.
        """
        for attempt in range(START_ATTEMPTS):
            self.port = keep if keep and attempt == 0 else free_port(self.host)
            self._prepare_port()
            try:
                self._launch()
                return
            except RuntimeError:
                self.stop()
                if attempt == START_ATTEMPTS - 1:
                    raise

    def _prepare_port(self) -> None:
        """Write whatever names the port before the launch (sshd's config)."""

    def stop(self) -> None:
        """Signal the server and reap it; kill it if it outstays ``stop_timeout``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def start(self) -> None:
        self._launch_on_a_free_port()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
