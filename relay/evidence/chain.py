"""Hash-chained, signed, line-oriented logs: the tamper evidence under recordings and the audit log.

A chain file is ordinary UTF-8 text, one record per ``\\n``-terminated line, so
that it stays readable by eye, by ``jq`` and (for recordings) by asciinema,
which ignores ``#`` comment lines. Tamper evidence is added by *control lines*
that readers skip and by a hash chain that binds every other line.

File layout
-----------
=============  ==============================================================
physical line  meaning
=============  ==============================================================
1              the **header**, any text chosen by the caller (an asciicast
               header, an audit header). It seeds the chain, so it is bound.
2 ...          **data lines**: every line that does not start with
               ``#warroom-``. Each one is chained. Other ``#`` comment lines
               are ordinary data lines and are chained too.
               **control lines**: ``#warroom-checkpoint {json}`` and, last in
               the file, ``#warroom-seal {json}``. They are *not* chained
               (a checkpoint cannot hash itself); they carry a signed snapshot
               of the chain state instead.
=============  ==============================================================

The chain
---------
Hashes are raw 32-byte SHA-256 digests; ``line`` includes its ``\\n``::

    h_0 = SHA-256(b"warroom-chain-v1" + header line)
    h_i = SHA-256(h_{i-1} + data line i)

Diagnostic sums
---------------
A chain hash says *that* a window changed, not *where*. Two cheap,
non-cryptographic sums let the verifier name the damaged line when a single
line was edited, dropped, inserted or duplicated, and tell a reordering from an
edit. With ``i`` the 1-based data line number, ``c_i = CRC-32(data line i)``
and ``P = 2**61 - 1``, over all data lines so far::

    crc_sum  = sum(c_i)     mod P
    crc_wsum = sum(i * c_i) mod P

Integrity rests on the chain and the signature alone; the sums only label the
damage (a forger could fool the label, never the verdict).

Control lines
-------------
One JSON object after the prefix, written in this key order::

    #warroom-checkpoint {"n": 1000, "hash": "<hex h_n>", "crc_sum": 123, "crc_wsum": 456,
                         "t": 1732700000.123, "key": "warroom-ed25519:<base64>", "sig": "<base64>"}
    #warroom-seal {"n": 1042, "hash": "<hex h_n>", "crc_sum": 7, "crc_wsum": 8,
                   "t": 1732700042.5, "reason": "session ended", "key": "...", "sig": "..."}

``n`` is the number of data lines so far, ``t`` the caller's clock rounded to
milliseconds, ``key`` the signer's public key in ``relay.trust.keys`` text form,
``sig`` the base64 ed25519 signature of this UTF-8 message (fields joined by
``\\n``; the reason only in a seal)::

    "warroom-checkpoint-v1" | "warroom-seal-v1", str(n), hash, str(crc_sum),
    str(crc_wsum), f"{t:.3f}", key [, reason]

The two domains differ so that a checkpoint cannot be relabelled as a seal to
pass off a truncated file as complete. The JSON must be byte-identical to
what ``json.dumps`` (default separators, ASCII escapes) makes of these fields
in this order, so that no byte of a control line can change unnoticed either.

Writer rules
------------
A checkpoint follows any data line that completes ``checkpoint_every_lines``
lines since the last one, or once ``checkpoint_every_seconds`` have passed
since the last checkpoint (so the first data line after a quiet spell is
checkpointed at once, proving the signer early) or since the time given with
the oldest line not yet checkpointed (a caller that appends late, like the
recorder's coalesced output, states when the line's content arrived). Every
``append`` and ``maybe_checkpoint(now)`` applies the rule; ``due`` says when it
will next fire, for an owner that must call ``maybe_checkpoint`` then. A
checkpoint is written only when there are new data lines, so checkpoint ``n``
strictly increases. The seal is the last line (its ``n`` may equal the last
checkpoint's). Data reaches the OS at every checkpoint and whenever the
buffer passes ``flush_bytes``: as long as the owner calls ``maybe_checkpoint``
by ``due``, a crash of the process loses at most the lines of the last
``checkpoint_every_seconds`` and leaves a verifiable prefix. Only the seal
is ``fsync``-ed (``fsync_checkpoints=True`` for more), because an ``fsync``
a second on the event loop would stall every session on a busy disk.

In the background (``background=True``, the recorder's choice): the lines'
SHA-256 and CRC-32 and their ``write`` run on a thread of the writer's own,
in the order the lines came, while the caller goes on; hashlib, zlib and
``os.write`` release the GIL on large buffers, so on a second core they
overlap the event loop (a log flood's output is ~2 ms of CPU per MB here).
Lines go to the thread once :data:`BACKGROUND_BYTES` of them wait. Every
checkpoint and the seal wait for the thread first and are written by the
caller, so what a checkpoint signs is on its way to the OS when it returns,
as without the thread. A failure on the thread (a full disk) is raised by the
writer's next call.

"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import json
import math
import os
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from relay.trust.keys import SigningKey

CHAIN_DOMAIN = b"warroom-chain-v1"
CHECKPOINT_DOMAIN = "warroom-checkpoint-v1"
SEAL_DOMAIN = "warroom-seal-v1"
CONTROL_PREFIX = "#warroom-"
CONTROL_PREFIX_BYTES = CONTROL_PREFIX.encode()
CHECKPOINT_PREFIX = "#warroom-checkpoint "
SEAL_PREFIX = "#warroom-seal "
CRC_MODULUS = 2**61 - 1
BACKGROUND_BYTES = 64 * 1024  # lines waiting that go to the writer's thread (background=True)


# ---------------------------------------------------------------- control lines


@dataclass(frozen=True)
class Checkpoint:
    """One parsed ``#warroom-checkpoint`` or ``#warroom-seal`` line."""

    n: int
    hash: str
    crc_sum: int
    crc_wsum: int
    t: float
    key: str
    sig: str
    reason: str | None = None

    @property
    def is_seal(self) -> bool:
        return self.reason is not None

    def message(self) -> bytes:
        """The exact bytes the signature covers (see the module docstring)."""
        domain = SEAL_DOMAIN if self.is_seal else CHECKPOINT_DOMAIN
        fields = [domain, str(self.n), self.hash, str(self.crc_sum), str(self.crc_wsum)]
        fields += [f"{self.t:.3f}", self.key]
        if self.reason is not None:
            fields.append(self.reason)
        return "\n".join(fields).encode()

    def line(self) -> bytes:
        """The control line, ``\\n`` included, in the documented key order."""
        body: dict[str, Any] = {
            "n": self.n,
            "hash": self.hash,
            "crc_sum": self.crc_sum,
            "crc_wsum": self.crc_wsum,
            "t": self.t,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        body.update(key=self.key, sig=self.sig)
        prefix = SEAL_PREFIX if self.is_seal else CHECKPOINT_PREFIX
        return (prefix + json.dumps(body) + "\n").encode()

    @classmethod
    def parse(cls, line: bytes) -> Checkpoint:
        """Parse a control line (without its ``\\n``); raise ``ValueError`` naming what is wrong."""
        text = line.decode()
        if text.startswith(SEAL_PREFIX):
            body = json.loads(text[len(SEAL_PREFIX) :])
            seal = True
        elif text.startswith(CHECKPOINT_PREFIX):
            body = json.loads(text[len(CHECKPOINT_PREFIX) :])
            seal = False
        else:
            raise ValueError("unknown #warroom- control line")
        if not isinstance(body, dict):
            raise ValueError("its body is not a JSON object")
        checkpoint = cls(
            n=_count(_field(body, "n", int)),
            hash=_hex_hash(_field(body, "hash", str)),
            crc_sum=_crc(_field(body, "crc_sum", int)),
            crc_wsum=_crc(_field(body, "crc_wsum", int)),
            t=_finite(_field(body, "t", (int, float))),
            key=_field(body, "key", str),
            sig=_field(body, "sig", str),
            reason=_field(body, "reason", str) if seal else None,
        )
        if checkpoint.line() != line + b"\n":
            raise ValueError("it is not in canonical form (spacing, escaping or field order)")
        return checkpoint


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"field {name!r} is missing or has the wrong type")
    return value


def _count(value: int) -> int:
    if value < 0:
        raise ValueError("field 'n' is negative")
    return value


def _hex_hash(value: str) -> str:
    if len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError("field 'hash' is not 64 lowercase hex digits")
    return value


def _crc(value: int) -> int:
    if not 0 <= value < CRC_MODULUS:
        raise ValueError("a crc field is out of range")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("field 't' is not a finite number")
    return float(value)


# ---------------------------------------------------------------- writer


class ChainWriter:
    """Append lines to a new chain file, with periodic signed checkpoints and a final seal.

    One writer owns one file for its whole life: the file is created (or must
    be empty), opened ``O_APPEND`` and ``flock``-ed, so a second writer fails
    instead of interleaving. The writer has no clock: every call that may
    checkpoint takes ``now``. Lines are buffered and written with one
    ``os.write`` per checkpoint (or per ``flush_bytes``), not one per line,
    because it sits on the terminal-output hot path; only the seal is
    ``fsync``-ed unless ``fsync_checkpoints`` asks for more. With
    ``background``, hashing and writing run on a thread (module docstring).
    """

    def __init__(
        self,
        path: Path,
        signing_key: SigningKey,
        header_line: str,
        *,
        checkpoint_every_lines: int = 1000,
        checkpoint_every_seconds: float = 1.0,
        flush_bytes: int = 1 << 20,
        fsync_checkpoints: bool = False,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        background: bool = False,
    ) -> None:
        if checkpoint_every_lines < 1 or checkpoint_every_seconds < 0:
            raise ValueError("checkpoint intervals must be positive")
        header = _encode_line(header_line)
        self.path = path
        self._key = signing_key
        self._key_text = signing_key.public.text()
        self._every_lines = checkpoint_every_lines
        self._every_seconds = checkpoint_every_seconds
        self._flush_bytes = flush_bytes
        self._fsync_checkpoints = fsync_checkpoints
        self._on_checkpoint = on_checkpoint
        self._hash = hashlib.sha256(CHAIN_DOMAIN + header).digest()
        self._n = 0
        self._crc_sum = 0
        self._crc_wsum = 0
        self._checkpoint_n = 0
        self._checkpoint_time = -math.inf
        self._unproven_since = math.inf  # the time given with the oldest unchecked line
        self._buffer: list[bytes] = []
        self._buffered = 0
        # background: lines not hashed yet are ``_buffer`` from line ``_hashed + 1`` on
        self._hashed = 0
        self._thread: ThreadPoolExecutor | None = None
        self._job: Future[None] | None = None  # the last batch handed to the thread
        self._failure: BaseException | None = None  # what the thread raised, raised again here
        if background:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"chain {path.name}")
        self._fd: int | None = _open_exclusive(path)
        try:
            _write_all(self._fd, header)
        except BaseException:
            os.close(self._fd)
            raise
        self._size = len(header)

    @property
    def lines(self) -> int:
        """Data lines appended so far (the header is not one)."""
        return self._n

    @property
    def hash(self) -> str:
        """The current chain hash ``h_n`` in hex."""
        if self._thread is not None and self._fd is not None:
            self._hand_over()
            self._settle()
        return self._hash.hex()

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def size(self) -> int:
        """Bytes handed to the OS so far: in ``on_checkpoint``, the file up to that line's end."""
        return self._size

    @property
    def due(self) -> float | None:
        """When the time rule next asks for a checkpoint (None: no line waits for one)."""
        if self._fd is None or self._n == self._checkpoint_n:
            return None
        return min(self._checkpoint_time, self._unproven_since) + self._every_seconds

    def append(self, line: str | bytes, now: float) -> None:
        """Chain one data line (``\\n`` optional at its end, nowhere else), checkpointing if due.

        ``line`` is text, or its UTF-8 bytes (checked).
        """
        if self._fd is None:
            raise ValueError(f"{self.path} is sealed")
        if self._failure is not None:
            self._raise_failure()
        data = _encode_line(line)
        self._n += 1
        if self._thread is None:
            self._chain_lines(self._n, (data,))
        self._buffer.append(data)
        self._buffered += len(data)
        self._unproven_since = min(self._unproven_since, now)
        if self._n - self._checkpoint_n >= self._every_lines or self._is_due(now):
            self.checkpoint(now)
        elif self._thread is not None:
            if self._buffered >= BACKGROUND_BYTES:
                self._hand_over()
        elif self._buffered >= self._flush_bytes:
            self.flush()

    def _chain_lines(self, first: int, lines: tuple[bytes, ...] | list[bytes]) -> None:
        """Chain ``lines``, numbered from ``first``: the hash and the sums."""
        chained, crc_sum, crc_wsum = self._hash, self._crc_sum, self._crc_wsum
        for number, data in enumerate(lines, first):
            digest = hashlib.sha256(chained)
            digest.update(data)  # not ``chained + data``: that copies the line once more
            chained = digest.digest()
            crc = zlib.crc32(data)
            crc_sum += crc
            crc_wsum += number * crc
        self._hash, self._crc_sum, self._crc_wsum = chained, crc_sum, crc_wsum

    def _hand_over(self) -> None:
        """Background: give the thread the buffered lines to chain and write, in order."""
        assert self._thread is not None and self._fd is not None
        if not self._buffer:
            return
        lines, first, fd = self._buffer, self._hashed + 1, self._fd
        self._buffer, self._buffered = [], 0
        self._hashed = self._n
        self._size += sum(map(len, lines))
        self._job = self._thread.submit(self._chain_and_write, fd, first, lines)

    def _chain_and_write(self, fd: int, first: int, lines: list[bytes]) -> None:
        """On the writer's thread: chain the lines, then hand them to the OS."""
        if self._failure is not None:
            return  # the chain is broken already: nothing after it is written
        try:
            self._chain_lines(first, lines)
            _write_all(fd, b"".join(lines))
        except BaseException as exc:
            self._failure = exc

    def _settle(self) -> None:
        """Background: wait until the thread has chained and written every line handed to it,
        and raise what it raised. The chain's state is then this thread's to read."""
        job, self._job = self._job, None
        if job is not None:
            job.result()
        if self._failure is not None:
            self._raise_failure()

    def _raise_failure(self) -> None:
        """Raise what the thread raised, as a new exception each time (raising the same
        object again would grow its traceback at every call)."""
        failure = self._failure
        if isinstance(failure, OSError):
            raise OSError(failure.errno, failure.strerror, str(self.path)) from failure
        message = f"{self.path}: the chain writer's thread failed: {failure!r}"
        raise RuntimeError(message) from failure

    def _is_due(self, now: float) -> bool:
        """The time rule: the interval passed since the last checkpoint or the oldest line."""
        # the same sum as ``due``, so that calling at ``due`` always fires (float rounding)
        return now >= min(self._checkpoint_time, self._unproven_since) + self._every_seconds

    def maybe_checkpoint(self, now: float) -> bool:
        """Checkpoint if lines wait and the time rule says so; call it by :attr:`due`."""
        if self._n > self._checkpoint_n and self._is_due(now):
            return self.checkpoint(now)
        return False

    def checkpoint(self, now: float) -> bool:
        """Checkpoint now if any data line came since the last one; return whether it did."""
        if self._fd is None:
            raise ValueError(f"{self.path} is sealed")
        if self._n == self._checkpoint_n:
            return False
        checkpoint = self._emit(now, None)
        if self._fsync_checkpoints:
            os.fsync(self._fd)
        if self._on_checkpoint is not None:
            self._on_checkpoint(checkpoint)
        return True

    def flush(self) -> None:
        """Hand buffered bytes to the OS (one ``write``), so a process crash cannot lose them."""
        if self._thread is not None and self._fd is not None:
            self._hand_over()
            self._settle()
        else:
            self._write_buffer()

    def _write_buffer(self) -> None:
        """Write what is buffered on this thread (background: only a control line is)."""
        if self._buffer and self._fd is not None:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            _write_all(self._fd, data)
            self._size += len(data)

    def seal(self, reason: str, now: float) -> None:
        """Write the final signed seal, ``fsync`` and close; the file is complete from here on."""
        if self._fd is None:
            raise ValueError(f"{self.path} is already sealed")
        try:
            checkpoint = self._emit(now, reason)
        except BaseException:
            self._stop_thread()
            raise
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
            self._stop_thread()
        if self._on_checkpoint is not None:
            self._on_checkpoint(checkpoint)

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)

    def _emit(self, now: float, reason: str | None) -> Checkpoint:
        """Sign the current chain state and write it as a checkpoint or seal, then flush."""
        if self._thread is not None:  # the lines before it chained and written first
            self._hand_over()
            self._settle()
        self._crc_sum %= CRC_MODULUS
        self._crc_wsum %= CRC_MODULUS
        unsigned = Checkpoint(
            n=self._n,
            hash=self._hash.hex(),
            crc_sum=self._crc_sum,
            crc_wsum=self._crc_wsum,
            t=_finite(round(float(now), 3)),
            key=self._key_text,
            sig="",
            reason=reason,
        )
        signature = base64.b64encode(self._key.sign(unsigned.message())).decode()
        checkpoint = replace(unsigned, sig=signature)
        self._buffer.append(checkpoint.line())  # not chained: a control line
        self._checkpoint_n = self._n
        self._checkpoint_time = now
        self._unproven_since = math.inf
        self._write_buffer()
        return checkpoint


def _encode_line(line: str | bytes) -> bytes:
    """Return the line's bytes with one trailing ``\\n``; refuse what would break framing.

    A line may come as text or as bytes already encoded (the recorder's JSON
    encoder makes UTF-8 bytes, and encoding them again would cost a copy on the
    output path). Bytes are checked to be UTF-8 (~4 GB/s), since every reader
    decodes the file as UTF-8 text.
    """
    if isinstance(line, str):
        data = line.encode()
    else:
        data = line
        data.decode()  # UnicodeDecodeError (a ValueError) for what is not UTF-8
    if data.startswith(CONTROL_PREFIX_BYTES):
        raise ValueError(f"a chained line cannot start with {CONTROL_PREFIX!r}")
    end = data.find(b"\n")
    if end == -1:
        return data + b"\n"
    if end != len(data) - 1:
        raise ValueError("a chained line cannot contain a newline before its end")
    return data


def _open_exclusive(path: Path) -> int:
    """Open ``path`` for appending, refusing a file that has content or another writer."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileExistsError(
                errno.EEXIST, "another writer holds this chain file", str(path)
            ) from None
        if os.fstat(fd).st_size:
            raise FileExistsError(errno.EEXIST, "chain file already has content", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_being_written(path: Path) -> bool:
    """Whether a writer holds ``path`` (its ``flock``): a running relay's open file.

    An unsealed file that no writer holds was left by a crash, or cut short.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
