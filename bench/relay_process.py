"""A relay in its own process, for the benchmarks.

The bench clients and the relay must not share one interpreter (one core, one
GIL), so :mod:`bench.__main__` starts this module as a child process. It builds
the relay exactly as ``warroom relay`` would, from code: one target (the
benchmark's OpenSSH sshd), a lead ``alice`` and a viewer ``bob`` whose public
keys the parent passes in, and recording on or off. It prints one line,
``READY <url> <pid>``, and serves until stdin closes or SIGTERM arrives.

Run: ``python -m bench.relay_process --data-dir D --sshd-host H --sshd-port P
--sshd-user U --sshd-key K --known-hosts F --lead-key A.pub --viewer-key B.pub
[--record]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from relay.config import Limits, RelayConfig, TargetConfig, UserConfig
from relay.core.roles import Role
from relay.evidence.audit import AuditLog
from relay.evidence.recording import recorder_factory
from relay.net.server import Relay
from relay.trust.keys import SigningKey

TARGET = "sshd"
LEAD = "alice"
VIEWER = "bob"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sshd-host", default="127.0.0.1")
    parser.add_argument("--sshd-port", type=int, required=True)
    parser.add_argument("--sshd-user", required=True)
    parser.add_argument("--sshd-key", type=Path, required=True)
    parser.add_argument("--known-hosts", type=Path, required=True)
    parser.add_argument("--lead-key", type=Path, required=True, help="OpenSSH public key file")
    parser.add_argument("--viewer-key", type=Path, required=True, help="OpenSSH public key file")
    parser.add_argument("--record", action="store_true", help="record every session")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> tuple[Relay, AuditLog]:
    """The relay, its audit log and (with ``--record``) its recorder, as in production."""
    target = TargetConfig(
        name=TARGET,
        host=args.sshd_host,
        port=args.sshd_port,
        user=args.sshd_user,
        key=args.sshd_key,
        known_hosts=args.known_hosts,
    )
    users = {
        LEAD: UserConfig(LEAD, (args.lead_key.read_text().strip(),), frozenset({Role.LEAD})),
        VIEWER: UserConfig(
            VIEWER, (args.viewer_key.read_text().strip(),), frozenset({Role.VIEWER})
        ),
    }
    config = RelayConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        data_dir=args.data_dir,
        limits=Limits(),
        targets={TARGET: target},
        users=users,
    )
    signing = SigningKey.load_or_create(config.data_dir / "keys")
    audit = AuditLog(config.data_dir / "audit", signing)
    recorder = (
        recorder_factory(config.data_dir / "recordings", signing, audit=audit)
        if args.record
        else None
    )
    return Relay(config, signing, audit, recorder), audit


async def serve(args: argparse.Namespace) -> None:
    relay, audit = build(args)
    await relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(f"READY {relay.url} {os.getpid()}", flush=True)
    eof = asyncio.ensure_future(reader.read())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({eof, stopped}, return_when=asyncio.FIRST_COMPLETED)
    eof.cancel()
    stopped.cancel()
    await relay.close()
    audit.close("bench finished")


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(_parse(argv)))


if __name__ == "__main__":
    main()
