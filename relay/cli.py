"""The ``warroom`` command: one verb per job, ``--help`` on each.

Relay side: ``relay`` (serve from a TOML config), ``demo`` (everything on
loopback, no config). Engineer side: ``login`` and ``join`` (the TUI).
Heavy imports happen inside each verb so ``warroom --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from relay import __version__
from relay.access_cli import add_access_verbs, add_ca_cert_option
from relay.arguments import Parser, attach_negative_values, quiet_broken_pipe
from relay.review_cli import VERBS as review_verbs

if TYPE_CHECKING:
    from relay.storage.service import ObjectStorage

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _add_relay(sub: Subparsers) -> None:
    p = sub.add_parser(
        "relay",
        help="run the relay from a TOML config",
        description=(
            "Serve the warroom protocol: sessions, recordings and the audit log. State that "
            "outlives a restart (grants, requests, invites, revocations, the session "
            "directory) is kept in <data-dir>/state.db. SIGHUP re-reads the config and "
            "applies users and roles at once: a removed user's (or demoted lead's) "
            "connections end."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="the relay's TOML config file")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain ws:// on a non-loopback address (traffic is not encrypted)",
    )
    p.add_argument(
        "--print-key",
        action="store_true",
        help="print the relay's public key (for offline verification) and exit",
    )
    p.set_defaults(func=_cmd_relay)


def _add_demo(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="a relay, a sandbox target and a session, on this machine",
        description=(
            "Start a relay on 127.0.0.1 with a sandbox SSH target (your own shell in a PTY, "
            "started in a throwaway home under the data dir), "
            "open a session on it and open the lead's window. With --headless, print one "
            "ready-to-paste 'warroom join' command per role instead and serve until "
            "interrupted."
        ),
    )
    p.add_argument("--headless", action="store_true", help="no TUI: print the invites and serve")
    p.add_argument("--data-dir", type=Path, help="where recordings, audit log and keys go")
    p.add_argument("--port", type=int, default=8422, help="relay port (0: any free port)")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a certificate from a CA made for the demo (kept under the "
        "data dir); the printed commands trust it with --ca-cert",
    )
    p.set_defaults(func=_cmd_demo)


def _add_login(sub: Subparsers) -> None:
    p = sub.add_parser(
        "login",
        help="prove who you are with your SSH key and keep the relay's token",
        description=(
            "Sign the relay's challenge with your SSH key (a key file, or the ssh-agent) and "
            "store the short-lived token in the OS keyring (or, with --insecure-storage, in "
            "a file only you can read), so that the other verbs need no key."
        ),
    )
    p.add_argument("url", help="the relay, e.g. wss://relay.example.com:8422")
    p.add_argument("--user", default=os.environ.get("USER", ""), help="your user on the relay")
    p.add_argument("--key", type=Path, help="private key file (default: the ssh-agent)")
    p.add_argument("--print-token", action="store_true", help="print the token to stdout")
    p.add_argument(
        "--insecure-storage",
        action="store_true",
        help="keep the token in a plain-text file only you can read (in your config "
        "directory) instead of the OS keyring: for machines without one",
    )
    add_ca_cert_option(p)
    p.set_defaults(func=_cmd_login)


def _add_join(sub: Subparsers) -> None:
    p = sub.add_parser(
        "join",
        help="join a session (an invite link, a session link, or a relay for its lobby)",
        description="Open the warroom TUI on a session.",
    )
    p.add_argument("target", help="invite link, ws(s)://relay/s/<session>, or ws(s)://relay")
    p.add_argument("--name", help="your display name when joining with an invite")
    p.add_argument("--user", default=os.environ.get("USER", ""), help="your user on the relay")
    p.add_argument("--key", type=Path, help="private key file to log in with")
    add_ca_cert_option(p)
    p.set_defaults(func=_cmd_join)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
        prog="warroom",
        description="One shared, recorded, access-controlled shell for on-call teams.",
    )
    parser.add_argument("--version", action="version", version=f"warroom {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for add in (_add_relay, _add_demo, _add_login, _add_join, *review_verbs):
        add(sub)
    add_access_verbs(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    if args.verb is None:  # plain "warroom": say what it can do
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()
    return code


def fail(message: str) -> int:
    print(f"warroom: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- relay side


async def _serve_until_signalled(
    reload: Callable[[], Awaitable[None]] | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; on SIGHUP, run ``reload`` (one at a time).

    ``ready`` runs once the handlers are in place (it prints the banner, so a
    SIGHUP sent by whoever waited for it never meets the default action).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: list[asyncio.Task[None]] = []
    if reload is not None:
        lock = asyncio.Lock()

        async def reload_once() -> None:
            async with lock:
                await reload()

        loop.add_signal_handler(
            signal.SIGHUP, lambda: reloads.append(loop.create_task(reload_once()))
        )
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for task in reloads:
            task.cancel()


def _cmd_relay(args: argparse.Namespace) -> int:
    from relay.audit import AuditLog
    from relay.config import ConfigError, load_config
    from relay.keys import KeyFileError, SigningKey
    from relay.recording import recorder_factory
    from relay.server import Relay
    from relay.witness import open_witness

    try:
        config = load_config(args.config)
        signing = SigningKey.load_or_create(config.data_dir / "keys")
    except (ConfigError, KeyFileError) as exc:
        return fail(str(exc))
    if args.print_key:
        print(signing.public.text())
        return 0

    witness, warning = open_witness(config.evidence.witness)
    storage = None
    if config.storage is not None:
        from relay.storage.service import ObjectStorage

        storage = ObjectStorage.open(config.storage, config.name, config.data_dir)

    async def run() -> None:
        warnings = [warning] if warning is not None else []
        backfill: asyncio.Task[None] | None = None
        if storage is not None:
            down = await _start_storage(storage, config.data_dir)
            if down is not None:  # what earlier runs left goes up once the bucket answers
                warnings.append(down)
                backfill = asyncio.create_task(_backfill_later(storage, config.data_dir))
        audit = AuditLog(
            config.data_dir / "audit",
            signing,
            witness=witness,
            replicate=storage.uploader.audit if storage is not None else None,
        )
        recorder = recorder_factory(
            config.data_dir / "recordings",
            signing,
            audit=audit,
            max_loss=config.evidence.max_loss,
            replicate=storage.uploader.recording if storage is not None else None,
        )
        relay = Relay(config, signing, audit, recorder, storage=storage)

        async def reload() -> None:
            """SIGHUP: read the config again; a bad one is reported and changes nothing."""
            try:
                fresh = load_config(args.config)
            except ConfigError as exc:
                audit.record("config.reload_failed", error=str(exc)[:500])
                print(f"warroom: config not reloaded: {exc}", file=sys.stderr, flush=True)
                return
            await relay.reload(fresh)
            print(f"warroom: config reloaded from {args.config}", file=sys.stderr, flush=True)

        if args.insecure:
            print("warroom: WARNING: serving plain ws:// without TLS (--insecure)", file=sys.stderr)
        await relay.start(insecure=args.insecure)

        def ready() -> None:
            print(f"warroom relay listening on {relay.url} (data in {config.data_dir})", flush=True)
            for text in warnings:  # after the banner, which scripts wait for
                print(f"warroom: WARNING: {text}", file=sys.stderr, flush=True)

        try:
            await _serve_until_signalled(reload, ready)
        finally:
            if backfill is not None:
                backfill.cancel()
            await relay.close()
            audit.close("relay stopped")
            if witness is not None:
                witness.close()
            if storage is not None:
                left = await asyncio.to_thread(storage.close, STORAGE_DRAIN)
                if left:
                    print(
                        f"warroom: WARNING: {len(left)} file(s) not fully uploaded to "
                        f"{storage.config.s3.url}; the next start uploads them: {', '.join(left)}",
                        file=sys.stderr,
                        flush=True,
                    )

    from relay.store import StoreError

    try:
        asyncio.run(run())
    except (OSError, ValueError, StoreError) as exc:
        return fail(str(exc))
    return 0


STORAGE_DRAIN = 30.0  # seconds a stopping relay waits for its last uploads
BACKFILL_RETRY = 5.0  # seconds between attempts to queue what earlier runs left


async def _start_storage(storage: ObjectStorage, data_dir: Path) -> str | None:
    """Start uploading and queue what earlier runs left; say (not fail) if the bucket is down.

    A relay whose bucket does not answer still starts: it refuses new sessions
    until the bucket answers (``/healthz`` says why), as it would if the bucket
    failed later. Returns that warning, or None.
    """
    from relay.storage.bucket import StorageError

    storage.start()
    try:
        await asyncio.to_thread(storage.uploader.check)  # /healthz says the outcome
        await asyncio.to_thread(storage.backfill, data_dir)
    except StorageError as exc:
        return f"object storage: {exc}; no session can be opened until it answers"
    return None


async def _backfill_later(storage: ObjectStorage, data_dir: Path) -> None:
    """Queue what earlier runs left as soon as the bucket answers (it did not at start)."""
    from relay.storage.bucket import StorageError

    while True:
        await asyncio.sleep(BACKFILL_RETRY)
        try:
            await asyncio.to_thread(storage.backfill, data_dir)
        except StorageError:
            continue
        return


def _demo_data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    from relay.config import default_data_dir

    return default_data_dir() / "demo"


def _cmd_demo(args: argparse.Namespace) -> int:
    from relay.demo import start_demo

    data_dir = _demo_data_dir(args)

    async def run() -> None:
        demo = await start_demo(data_dir, args.port, tls=args.tls)
        try:
            print(f"warroom demo: relay on {demo.relay.url}, data in {data_dir}")
            print(
                f"sandbox: your shell, as {os.environ.get('USER', 'you')}, in a throwaway home "
                f"({demo.home}, emptied at every start); it is not isolated from this machine"
            )
            audit = "" if args.data_dir is None else f" --data-dir {data_dir}"
            print(f"audit log: warroom audit{audit}")
            sys.stdout.flush()
            if args.headless:
                for line in demo.commands():
                    print(line)
                sys.stdout.flush()
                await _serve_until_signalled()
            else:
                from relay.roles import Role
                from tui.app import run_join

                await run_join(
                    demo.invites[Role.LEAD], name=None, user="", key=None, ca_cert=demo.ca_cert
                )
        finally:
            await demo.close()

    try:
        asyncio.run(run())
    except (OSError, ValueError) as exc:  # ValueError: a key file with loose permissions
        return fail(f"cannot start the demo: {exc}")
    return 0


# ---------------------------------------------------------------- engineer side


def _cmd_login(args: argparse.Namespace) -> int:
    from tui.client import RelayError, for_people
    from tui.login import login

    try:
        token = asyncio.run(
            login(args.url, args.user, args.key, args.ca_cert, args.insecure_storage)
        )
    except (RelayError, OSError, ValueError) as exc:
        return fail(f"login failed: {for_people(exc)}")
    if args.print_token:
        print(token)
    return 0


def _cmd_join(args: argparse.Namespace) -> int:
    from tui.app import run_join
    from tui.client import RelayError, for_people

    try:
        asyncio.run(
            run_join(
                args.target, name=args.name, user=args.user, key=args.key, ca_cert=args.ca_cert
            )
        )
    except (RelayError, OSError, ValueError) as exc:
        return fail(for_people(exc))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
