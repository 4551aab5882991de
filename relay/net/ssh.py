"""The relay's side of SSH: one connection and one PTY channel per session.

The relay alone holds the target's credentials. It verifies the host key
against the target's ``known_hosts`` (strict unless the config explicitly
says otherwise), never reads the operator's ``~/.ssh/config`` or agent, and
hands every chunk of output to a callback without buffering it: flow control
back to the target is asyncssh's window, which the callback never holds up.

Ciphers: the relay offers AES-GCM before ChaCha20-Poly1305 (asyncssh's first
choice; the rest of asyncssh's default list follows, so a target that allows
only ChaCha20 still connects). Both are AEAD ciphers OpenSSH enables by
default; they differ in what they cost the relay, which decrypts every byte
a session prints on its one event loop. asyncssh runs ChaCha20-Poly1305 as
several ``cryptography`` calls per SSH packet (a cipher object for the
length, one for the Poly1305 key, one for the payload), and a PTY's output
comes in ~4 KiB packets: its client decrypted ~40 MB per CPU-second of log
output here, against ~85 with AES-GCM (one AES-NI-backed call per packet;
docs/performance.md). On a CPU without AES instructions the order would be
the wrong way round; every x86-64 CPU since 2010 and ARMv8 with its crypto
extensions has them.

Socket reads reach asyncssh in pieces (:class:`_Pieces`): asyncssh keeps what
it has not parsed yet in one ``bytes`` and cuts each packet off its front,
copying the rest twice per packet, so a read of 256 KiB (what asyncio reads
at once when the relay is the slower side of a flood) costs ~64 copies of up
to 256 KiB for its ~4 KiB packets. Pieces of :data:`READ_PIECE` bound that to
a few KiB per packet (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from asyncssh.encryption import get_default_encryption_algs

from relay.core.errors import WarroomError

OutputCallback = Callable[[bytes], None]

_AEAD_AES = ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com")
CIPHERS: tuple[str, ...] = tuple(
    sorted(
        (alg.decode("ascii") for alg in get_default_encryption_algs()),
        key=lambda alg: alg not in _AEAD_AES,
    )
)
"""The relay's cipher preference: asyncssh's defaults with AES-GCM first (see above)."""
ExitCallback = Callable[[int | None], None]
READ_PIECE = 16 * 1024
"""The largest piece of a socket read handed to asyncssh at once (see above)."""


class TargetUnavailable(WarroomError):
    """The target could not be reached or refused the relay; the message says why."""


@dataclass(frozen=True)
class TargetAddress:
    """Where and how the relay logs in; the subset of the target config SSH needs."""

    name: str
    host: str
    port: int
    user: str
    key: Path
    known_hosts: Path | None  # None only when the config accepts any host key


class _Pieces(asyncio.Protocol):
    """Stands between the TCP transport and asyncssh's connection: hands it each
    socket read in pieces of :data:`READ_PIECE` bytes (see the module docstring).

    Everything else passes through unchanged. Once the connection has closed
    its transport (a protocol error, a MAC failure), the rest of the read is
    not handed over, as asyncssh would not have parsed it either.
    """

    def __init__(self, connection: asyncio.Protocol) -> None:
        self.connection = connection
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.connection.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if len(data) <= READ_PIECE:
            self.connection.data_received(data)
            return
        transport = self._transport
        for start in range(0, len(data), READ_PIECE):
            if transport is not None and transport.is_closing():
                return
            self.connection.data_received(data[start : start + READ_PIECE])

    def eof_received(self) -> bool | None:
        return self.connection.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.connection_lost(exc)

    def pause_writing(self) -> None:
        self.connection.pause_writing()

    def resume_writing(self) -> None:
        self.connection.resume_writing()


class _InPieces:
    """The TCP connection to the target, for asyncssh's ``tunnel`` option: asyncssh
    opens its connection through :meth:`create_connection` instead of the event
    loop's, which lets :class:`_Pieces` stand in front of it."""

    async def create_connection(
        self, factory: Callable[[], asyncio.Protocol], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        loop = asyncio.get_running_loop()
        transport, pieces = await loop.create_connection(lambda: _Pieces(factory()), host, port)
        return transport, pieces.connection

    def close(self) -> None:
        """Nothing to close: the connection owns its transport."""

    async def wait_closed(self) -> None:
        """Nothing to wait for (see :meth:`close`)."""


class _ShellSession(asyncssh.SSHClientSession[bytes]):
    """Passes output and exit straight to the live session."""

    def __init__(self, on_output: OutputCallback, on_exit: ExitCallback) -> None:
        self._on_output = on_output
        self._on_exit = on_exit
        self._status: int | None = None

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._on_output(data)

    def exit_status_received(self, status: int) -> None:
        self._status = status

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_exit(self._status)


class TargetShell:
    """An interactive shell on the target, in a PTY of the driver's size."""

    def __init__(
        self, conn: asyncssh.SSHClientConnection, channel: asyncssh.SSHClientChannel[bytes]
    ) -> None:
        self._conn = conn
        self._channel = channel

    @classmethod
    async def open(
        cls,
        target: TargetAddress,
        cols: int,
        rows: int,
        on_output: OutputCallback,
        on_exit: ExitCallback,
        timeout: float = 15.0,
    ) -> TargetShell:
        """Connect, verify the host key, and start the shell; raise TargetUnavailable."""
        try:
            conn = await asyncssh.connect(
                target.host,
                target.port,
                username=target.user,
                client_keys=[str(target.key)],
                known_hosts=str(target.known_hosts) if target.known_hosts else None,
                config=None,
                agent_path=None,
                connect_timeout=timeout,
                encryption_algs=list(CIPHERS),
                tunnel=_InPieces(),
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise TargetUnavailable(
                f"{target.name}: host key not accepted by {target.known_hosts} ({exc.reason}); "
                "refusing to connect"
            ) from None
        except asyncssh.PermissionDenied:
            raise TargetUnavailable(
                f"{target.name}: {target.user}@{target.host} refused the relay's key"
            ) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise TargetUnavailable(
                f"{target.name}: cannot reach {target.host}:{target.port}: {exc}"
            ) from None
        try:
            channel, _ = await conn.create_session(
                lambda: _ShellSession(on_output, on_exit),
                term_type="xterm-256color",
                term_size=(cols, rows),
                encoding=None,
            )
        except (OSError, asyncssh.Error) as exc:
            conn.close()
            raise TargetUnavailable(f"{target.name}: cannot start a shell: {exc}") from None
        return cls(conn, channel)

    @property
    def cipher(self) -> str:
        """The cipher negotiated for what the target sends (``aes256-gcm@openssh.com``)."""
        return str(self._conn.get_extra_info("recv_cipher"))

    def write(self, data: bytes) -> None:
        self._channel.write(data)

    def resize(self, cols: int, rows: int) -> None:
        self._channel.change_terminal_size(cols, rows)

    def pause_reading(self) -> None:
        """Stop reading output: SSH flow control then holds the program on the target."""
        self._channel.pause_reading()

    def resume_reading(self) -> None:
        self._channel.resume_reading()

    async def close(self) -> None:
        self._channel.close()
        self._conn.close()
        await self._conn.wait_closed()
