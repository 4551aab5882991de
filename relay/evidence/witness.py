"""The witness: every audit checkpoint, copied outside the data directory.

The audit log proves that nothing *inside* a file changed, and each file's
header links it to the one before. What no file can prove is that no file is
missing at the end: delete the newest audit file (or cut it back to an earlier
checkpoint) and the log that remains is intact. So each audit checkpoint, the
seal, and the start of each file (``n`` 0, the hash of its header, which holds
the link to the previous run) are also written to a *witness* that someone who
can edit the data directory cannot edit: a line in syslog/journald, shipped
off the host by the usual log pipeline. ``warroom audit --verify --witness
FILE`` reads an export of those lines and names every file that is missing or
shorter than the witness saw.

A witness is anything with ``witness(record)`` and ``close()``
(:class:`Witness`). :class:`SyslogWitness` is the one built in; a cluster
also keeps the same records in its shared database
(:class:`relay.store.pg_audit.PostgresAudit`), and :class:`Witnesses` hands
each record to several.

Line format
-----------
One datagram per record, RFC 3164 style, which rsyslog and journald parse::

    <PRI>warroom-witness[PID]: {"file": "audit-2026-11-27-1.log", "hash": "<hex>", "log": "audit",
        "n": 12, "relay": "warroom-ed25519:<base64>", "seal": false, "t": 1795000012.25,
        "warroom_witness": 1}

The JSON object has sorted keys; ``warroom_witness`` marks it (and is its
version), ``relay`` is the relay's public key, ``n``/``hash`` the chain state
the audit file's checkpoint (or seal, ``seal`` true) signed. The reader
(:func:`read_witness`) takes any text export — ``/var/log/auth.log``,
``journalctl -t warroom-witness``, ``journalctl -o cat`` — by looking for the
first JSON object on each line that carries the marker.

Sending never blocks the relay: the socket is non-blocking and a record that
cannot be sent (no syslog daemon, a full queue) is dropped and counted; the
relay logs a warning. A missing witness line can only make the verifier say
less, never accept a shortened log.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

TAG = "warroom-witness"
MARKER = "warroom_witness"
VERSION = 1
SYSLOG_SOCKET = "/dev/log"
FACILITY_AUTHPRIV = 10  # security/authorization messages, kept private by syslog setups
SEVERITY_INFO = 6
MAX_RECORD_LINE = 4096  # bytes: a record is ~250; a longer line in an export is not one


@dataclass(frozen=True)
class WitnessRecord:
    """One witnessed chain state of one log file."""

    relay: str  # the relay's public key (relay.trust.keys text form)
    log: str  # which log: "audit"
    file: str  # the file's name in its directory
    n: int  # data lines covered
    hash: str  # the chain hash h_n, hex
    seal: bool  # this state is the file's seal
    t: float  # the relay's clock at the checkpoint

    def line(self) -> str:
        """The JSON object as it is sent (sorted keys, with the marker)."""
        return json.dumps({**asdict(self), MARKER: VERSION}, sort_keys=True)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> WitnessRecord:
        """Parse a marked object; raise ``ValueError`` naming what is wrong."""
        if value.get(MARKER) != VERSION:
            raise ValueError(f"not a version {VERSION} witness record")
        fields: dict[str, Any] = {}
        for name, kind in (
            ("relay", str),
            ("log", str),
            ("file", str),
            ("n", int),
            ("hash", str),
            ("seal", bool),
            ("t", (int, float)),
        ):
            item = value.get(name)
            if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
                raise ValueError(f"field {name!r} is missing or has the wrong type")
            fields[name] = item
        if fields["n"] < 0 or "/" in fields["file"]:
            raise ValueError("field 'n' or 'file' is out of range")
        return cls(**fields)


class Witness(Protocol):
    """Where checkpoint hashes go besides the data directory."""

    def witness(self, record: WitnessRecord) -> None: ...
    def close(self) -> None: ...


class Witnesses:
    """Several witnesses as one: each record goes to every one, in order."""

    def __init__(self, *witnesses: Witness) -> None:
        self.witnesses = witnesses

    def witness(self, record: WitnessRecord) -> None:
        for witness in self.witnesses:
            witness.witness(record)

    def close(self) -> None:
        for witness in self.witnesses:
            witness.close()


class SyslogWitness:
    """Send each record to syslog (a unix datagram socket such as ``/dev/log``, or UDP).

    Python's ``logging.handlers.SysLogHandler`` writes the same line format but
    uses a blocking socket: a stuck syslog daemon would stall the relay's event
    loop, and with it every session. This sender is the few lines that differ.
    """

    def __init__(self, address: str | tuple[str, int] = SYSLOG_SOCKET) -> None:
        self.address = address
        self.sent = 0
        self.dropped = 0
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        if isinstance(address, tuple) and ":" in address[0]:
            family = socket.AF_INET6
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._prefix = f"<{FACILITY_AUTHPRIV * 8 + SEVERITY_INFO}>{TAG}[{os.getpid()}]: "

    def witness(self, record: WitnessRecord) -> None:
        data = (self._prefix + record.line()).encode()
        try:
            self._socket.sendto(data, self.address)
        except OSError as exc:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("witness %s: %d record(s) dropped: %s", self.address, self.dropped, exc)
        else:
            self.sent += 1

    def close(self) -> None:
        self._socket.close()


def parse_address(text: str) -> str | tuple[str, int] | None:
    """A witness setting: ``syslog`` (``/dev/log``), ``unix:PATH``, ``udp:HOST:PORT``, ``none``."""
    if text == "none":
        return None
    if text == "syslog":
        return SYSLOG_SOCKET
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest.startswith("/"):
        return rest
    if kind == "udp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return host.strip("[]"), int(port)
    raise ValueError(
        f"{text!r} is not a witness: expected syslog, unix:/PATH, udp:HOST:PORT or none"
    )


def read_witness(path: Path) -> tuple[list[WitnessRecord], int]:
    """The records in an exported log, in order, and how many marked lines were malformed."""
    records: list[WitnessRecord] = []
    bad = 0
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            for value in _objects(line):
                try:
                    records.append(WitnessRecord.from_json(value))
                except ValueError:
                    bad += 1
    return records, bad


def _objects(line: str) -> Iterator[dict[str, Any]]:
    """The marked JSON object of one log line, if it has one."""
    if MARKER not in line or len(line) > MAX_RECORD_LINE:
        return
    start = line.find("{")
    if start == -1:
        return
    try:
        value, _ = json.JSONDecoder().raw_decode(line, start)
    except ValueError:
        yield {}
        return
    yield value if isinstance(value, dict) else {}


def open_witness(setting: str) -> tuple[Witness | None, str | None]:
    """The witness a config setting names, and a warning when it cannot work as set."""
    address = parse_address(setting)
    if address is None:
        return None, 'audit checkpoints have no witness ([audit] witness = "none")'
    if isinstance(address, str) and not Path(address).exists():
        return None, (
            f"no syslog socket at {address}: audit checkpoints have no witness "
            "(start a syslog daemon or journald, or set [audit] witness)"
        )
    return SyslogWitness(address), None
