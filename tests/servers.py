"""What the servers the tests start (sshd, moto, PostgreSQL) have in common.

Each runs as a child process on a free loopback port; another process may take
that port between our pick and the server's bind, so starting retries on a
fresh port. Stopping signals the process, waits a bounded time, then kills and
reaps it, so that no test leaves a server behind.

A run that is itself killed never reaches ``stop``: a SIGTERM or SIGKILL (a CI
job cancelled, a bench stopped with ``kill``) ends Python without unwinding a
fixture or running ``atexit``, and servers in their own session
(``start_new_session``, so that a ^C in the terminal reaches pytest and not
them) would outlive it. So each server is started with a parent-death signal
(:func:`die_with_parent`): Linux sends it its own stop signal the moment the
process that started it dies, however it died, and it stops as ``stop``
would have stopped it (PostgreSQL's postmaster then ends its backends).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

START_ATTEMPTS = 3
"""Attempts at a free port: another process may take the one we picked first."""


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child sent ``sig`` when this process dies (Linux).

    The kernel sends it when the *thread* that started the child ends, so it is
    armed only from the main thread (a server started from a worker thread would
    die with that thread); elsewhere, and off Linux, this returns ``None`` and
    the server is stopped by ``stop`` alone. A parent that died between the fork
    and the ``prctl`` is caught by comparing the parent's pid: the child ends itself.
    """
    libc = _LIBC
    if libc is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def arm() -> None:  # runs in the child between fork and exec: nothing that takes a lock
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0 or os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # no exec: nothing to clean up yet

    return arm


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

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the tests of the cleanup look for it)."""
        return self._process.pid if self._process is not None else None

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


# ---------------------------------------------------------------- checking the cleanup

ROOT = Path(__file__).resolve().parent.parent
SIGNALS = (signal.SIGTERM, signal.SIGKILL, signal.SIGINT)  # kill, kill -9, ^C
#: (^C as a terminal sends it: a run started in the background by a shell without job
#: control inherits SIGINT ignored, and its children would never see the test's ^C.)
IN_A_CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
{setup}
with server:
    print("READY", server.pid, flush=True)
    time.sleep(3600)
"""


def start_in_a_child(setup: str, timeout: float = 120.0) -> tuple[subprocess.Popen[str], int]:
    """A Python process that starts a server as a test or a bench does, and its pid.

    ``setup`` is Python that binds ``server`` to a :class:`ServerProcess`; the
    child enters it (starting it), prints its pid and sleeps, to be killed.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", IN_A_CHILD.format(root=str(ROOT), setup=setup)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while not line.startswith("READY ") and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line and child.poll() is not None:
            break
    if not line.startswith("READY "):
        child.kill()
        _, err = child.communicate()
        raise RuntimeError(f"the child did not start its server: {err.strip()[-2000:]}")
    return child, int(line.split()[1])


def family(pid: int) -> set[int]:
    """``pid`` and every process under it, now (from /proc: Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found = {pid}
    grew = True
    while grew:
        more = {child for child, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has ended: nobody reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def survivors(child: subprocess.Popen[str], pid: int, how: signal.Signals) -> set[int]:
    """Send ``how`` to ``child`` and return the server's processes still running once
    they had time to stop (then kill them: a failing test leaves nothing behind either)."""
    server = family(pid)
    child.send_signal(how)
    child.communicate(timeout=60)
    deadline = time.monotonic() + 30
    left = {p for p in server if running(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if running(p)}
    for p in left:
        os.kill(p, signal.SIGKILL)
    return left


def interrupt_on_sigterm() -> None:
    """Have a SIGTERM unwind this process as a ^C does (``KeyboardInterrupt``).

    Python's default for SIGTERM is to end at once: no ``finally``, no fixture
    teardown, no ``atexit``. Unwinding instead stops the servers the usual way and
    removes their temporary directories; :func:`die_with_parent` still covers a
    SIGKILL, or a run stuck too long to unwind.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)
