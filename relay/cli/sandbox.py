"""The demo's SSH target: a loopback asyncssh server running a real shell in a real PTY.

`warroom demo` needs a "production host" that anyone can run on a laptop. This module
is that host: it listens on loopback with a freshly generated host key, accepts exactly
one client public key (the relay's), and gives each session channel the user's shell on
a kernel PTY, so that line editing, echo, job control, `stty` and full-screen programs
behave exactly as they would behind OpenSSH.

Why a real PTY rather than asyncssh's own terminal emulation: asyncssh's line editor
edits and echoes input itself, which a shared terminal must never see doubled, so the
server is created with ``line_editor=False`` and the kernel's line discipline does the
work instead.

Why the PTY master is bridged by hand rather than with ``SSHServerProcess.redirect``:
redirecting one fd as both stdin and stdout wraps it in two file objects that both own
it, a PTY master reports the end of the session as ``EIO`` instead of EOF, and the shell's
exit status must only be sent after its last output has been forwarded. A small pump
keeps those three facts explicit and lets output go out in 64 KiB batches (a PTY read
returns 4-20 KiB) with the channel's flow control as backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pty
import signal
import struct
import termios
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncssh

#: Largest batch of PTY output forwarded to the channel in one write.
CHUNK_SIZE = 64 * 1024
#: Seconds output is still forwarded after the shell exits. Bounded because a
#: background job that inherited the PTY may keep it open forever.
DRAIN_TIMEOUT = 1.0
#: Seconds between SIGHUP and SIGKILL when the client goes away.
HANGUP_GRACE = 1.0
#: Window size used when the client did not request a PTY (width, height).
DEFAULT_SIZE = (80, 24)
#: Variables taken from the relay's environment. Everything else is left out so that
#: the relay's secrets (tokens, keys in env vars) never reach the demo's shell users.
PASSED_ENV = ("HOME", "USER", "LOGNAME", "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")


class SandboxTarget:
    """A loopback SSH server that runs a shell on a PTY for one authorized client key.

    Use as ``async with SandboxTarget(relay_key) as target:`` or call :meth:`start` and
    :meth:`close`. Any user name is accepted: the client key is the only credential.
    """

    def __init__(
        self,
        client_key: asyncssh.SSHKey | str,
        *,
        shell: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare a target; *client_key* is an SSHKey or an OpenSSH public key line.

        *shell* is the argv of the interactive shell (default: a login ``$SHELL`` or
        ``/bin/bash``); *env* adds to or overrides the shell's environment.
        """
        self._authorized = asyncssh.import_authorized_keys(_public_key_line(client_key))
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._shell = list(shell) if shell else None
        self._env = dict(env or {})
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on *host*:*port* (0 picks a free port, see :attr:`port`)."""
        self._host = host
        self._acceptor = await asyncssh.listen(
            host,
            port,
            server_factory=lambda: _SandboxServer(self._connections),
            server_host_keys=[self._host_key],
            authorized_client_keys=self._authorized,
            process_factory=self._serve,
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            allow_scp=False,
        )
        self._port = self._acceptor.get_port()

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the server listens (or listened) on; only valid after :meth:`start`."""
        if not self._port:
            raise RuntimeError("SandboxTarget is not started")
        return self._port

    @property
    def host_key(self) -> asyncssh.SSHKey:
        """The server's public host key."""
        return self._host_key.convert_to_public()

    @property
    def host_key_line(self) -> str:
        """This server's OpenSSH ``known_hosts`` line: ``[127.0.0.1]:PORT ssh-ed25519 …``."""
        key = self._host_key.export_public_key("openssh").decode().split()
        pattern = self._host if self.port == 22 else f"[{self._host}]:{self.port}"
        return f"{pattern} {key[0]} {key[1]}"

    def write_known_hosts(self, path: str | Path) -> None:
        """Write a ``known_hosts`` file holding only this server's host key."""
        Path(path).write_text(self.host_key_line + "\n")

    async def close(self) -> None:
        """Stop listening, disconnect every client and wait until every shell is reaped."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self._connections):
            conn.close()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run one session channel; tracked so that :meth:`close` can wait for it."""
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            login = self._shell is None and process.command is None
            argv = self._argv(process.command)
            await _ShellSession(process, argv, self._env, login=login).run()
        finally:
            self._sessions.discard(task)

    def _argv(self, command: str | None) -> list[str]:
        """The argv for a session: the interactive shell, or ``shell -c command`` for exec."""
        shell = self._shell or [os.environ.get("SHELL") or "/bin/bash"]
        if command is not None:
            return [shell[0], "-c", command]
        return shell


class _SandboxServer(asyncssh.SSHServer):
    """Tracks live connections so that :meth:`SandboxTarget.close` can drop them."""

    def __init__(self, connections: set[asyncssh.SSHServerConnection]) -> None:
        self._connections = connections
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._connections.discard(self._conn)


class _ShellSession:
    """One channel: a child on a PTY slave, bridged to the channel through the master.

    Lifetime rules: the shell exits -> its remaining output is forwarded, then its exit
    status (or signal) is sent and the channel closes; the client goes away -> the
    shell's process group gets SIGHUP, then SIGKILL after a grace period. Either way
    the child is reaped before :meth:`run` returns, so no zombie is left.
    """

    def __init__(
        self,
        process: asyncssh.SSHServerProcess[bytes],
        argv: list[str],
        extra_env: Mapping[str, str],
        *,
        login: bool,
    ) -> None:
        self._process = process
        self._argv = argv
        self._login = login
        self._extra_env = extra_env
        self._loop = asyncio.get_running_loop()
        self._master = -1

    async def run(self) -> None:
        """Spawn the shell and forward until it exits or the client disconnects."""
        master, slave = pty.openpty()
        self._master = master
        try:
            os.set_blocking(master, False)
            set_window_size(master, *self._requested_size())
            child = await self._spawn(slave)
        except OSError as exc:
            os.close(master)
            # On stdout, as the PTY would have shown the shell's own error.
            message = f"sandbox: cannot start {self._argv[0]}: {exc}\r\n"
            self._process.stdout.write(message.encode())
            self._process.exit(127)
            return
        finally:
            os.close(slave)  # or the master never reports EIO when the shell exits
        try:
            await self._supervise(child)
        finally:
            os.close(master)

    def _requested_size(self) -> tuple[int, int, int, int]:
        """The PTY request's (width, height, pixwidth, pixheight), with a default.

        Every session gets a PTY, even one that did not ask for it: the relay always
        asks, and a shell that behaves one way only is easier to reason about.
        """
        width, height, pixwidth, pixheight = self._process.term_size
        if not width or not height:
            width, height = DEFAULT_SIZE
        return width, height, pixwidth, pixheight

    def _environment(self) -> dict[str, str]:
        """The shell's environment: a small login-like set, the client's term, extras."""
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        width, height, _, _ = self._requested_size()
        env.update(
            SHELL=self._argv[0],
            TERM=self._process.term_type or "xterm-256color",
            COLUMNS=str(width),
            LINES=str(height),
        )
        env.update(self._extra_env)
        return env

    async def _spawn(self, slave: int) -> asyncio.subprocess.Process:
        """Start the child in a new session with *slave* as stdio and controlling tty.

        The default shell is started as a login shell the way sshd and login(1) do it:
        ``argv[0]`` prefixed with ``-``, which every common shell understands.
        """
        program, *args = self._argv
        argv0 = "-" + os.path.basename(program) if self._login else program
        env = self._environment()
        return await asyncio.create_subprocess_exec(
            argv0,
            *args,
            executable=program,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=env.get("HOME", "/"),  # where a login lands: the demo's throwaway home
            start_new_session=True,
            preexec_fn=_take_controlling_tty,
        )

    async def _supervise(self, child: asyncio.subprocess.Process) -> None:
        """Pump both directions; end on shell exit or channel close, whichever comes first."""
        output = asyncio.create_task(self._pump_output())
        inp = asyncio.create_task(self._pump_input())
        exited = asyncio.create_task(child.wait())
        closed = asyncio.create_task(self._process.wait_closed())
        try:
            done, _ = await asyncio.wait({exited, closed}, return_when=asyncio.FIRST_COMPLETED)
            if exited in done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(output), DRAIN_TIMEOUT)
                self._report_exit(exited.result())
            else:
                await _hang_up(child)
        finally:
            for task in (output, inp, exited, closed):
                task.cancel()
            await asyncio.gather(output, inp, exited, closed, return_exceptions=True)
            if child.returncode is None:  # cancelled from outside: still reap it
                _signal_group(child.pid, signal.SIGKILL)
                await child.wait()

    def _report_exit(self, returncode: int) -> None:
        """Send the shell's exit status, or the signal that killed it, and close."""
        if self._process.is_closing():
            return
        if returncode >= 0:
            self._process.exit(returncode)
        else:
            self._process.exit_with_signal(signal.Signals(-returncode).name.removeprefix("SIG"))

    async def _pump_output(self) -> None:
        """Forward PTY output to the channel until EOF, waiting on channel flow control."""
        stdout = self._process.stdout
        while True:
            await _ready(self._loop.add_reader, self._loop.remove_reader, self._master)
            data, eof = read_batch(self._master, CHUNK_SIZE)
            if data:
                stdout.write(data)
                await stdout.drain()
            if eof:
                return

    async def _pump_input(self) -> None:
        """Forward client input to the PTY; apply window changes, signals and breaks."""
        stdin = self._process.stdin
        while True:
            try:
                data = await stdin.read(CHUNK_SIZE)
            except asyncssh.TerminalSizeChanged as exc:
                # The kernel sends SIGWINCH to the tty's foreground process group itself.
                set_window_size(self._master, exc.width, exc.height, exc.pixwidth, exc.pixheight)
                continue
            except asyncssh.SignalReceived as exc:
                self._signal_foreground(getattr(signal, f"SIG{exc.signal}", None))
                continue
            except asyncssh.BreakReceived:
                self._signal_foreground(signal.SIGINT)
                continue
            if not data:
                return  # client EOF: keep the shell, as OpenSSH does for a PTY session
            if not await self._write_master(data):
                return

    async def _write_master(self, data: bytes) -> bool:
        """Write all of *data* to the PTY; False once the PTY is gone."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                await _ready(self._loop.add_writer, self._loop.remove_writer, self._master)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return False
                raise
        return True

    def _signal_foreground(self, sig: signal.Signals | None) -> None:
        """Deliver a client-requested signal to whatever the user is running right now."""
        if sig is None:
            return
        with contextlib.suppress(OSError):
            _signal_group(os.tcgetpgrp(self._master), sig)


def set_window_size(
    fd: int, width: int, height: int, pixwidth: int = 0, pixheight: int = 0
) -> None:
    """Set a PTY's window size (the kernel then sends SIGWINCH to its foreground group)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, pixwidth, pixheight))


def read_batch(fd: int, limit: int) -> tuple[bytes, bool]:
    """Read what a non-blocking PTY master has now, up to *limit* bytes.

    Returns ``(data, eof)``. Linux reports the slave side closing as ``EIO``, which is
    the PTY's end of file. Batching several reads makes fewer, larger channel writes.
    """
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = os.read(fd, limit - size)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b"".join(chunks), True
            raise
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


async def _ready(
    add: Callable[..., None],
    remove: Callable[[int], object],
    fd: int,
) -> None:
    """Wait once until *fd* is readable (add_reader) or writable (add_writer)."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    add(fd, wake)
    try:
        await waiter
    finally:
        remove(fd)


async def _hang_up(child: asyncio.subprocess.Process) -> None:
    """End the shell the way a dropped terminal does: SIGHUP, then SIGKILL if it lingers."""
    _signal_group(child.pid, signal.SIGHUP)
    try:
        await asyncio.wait_for(child.wait(), HANGUP_GRACE)
    except TimeoutError:
        _signal_group(child.pid, signal.SIGKILL)
        await child.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group, ignoring one that has already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _take_controlling_tty() -> None:
    """In the child, after setsid: make stdin (the PTY slave) the controlling terminal.

    Without a controlling tty the shell has no job control and Ctrl-C never becomes
    SIGINT. This runs between fork and exec, so it does nothing but one ioctl.
    """
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _public_key_line(key: asyncssh.SSHKey | str) -> str:
    """An OpenSSH public key line for *key* (a private or public SSHKey, or a line)."""
    if isinstance(key, str):
        return key.strip() + "\n"
    return key.export_public_key("openssh").decode()
