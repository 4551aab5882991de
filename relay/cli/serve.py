"""The relay's side of the ``warroom`` command: ``warroom relay`` serves from a TOML config.

The ``warroom`` command itself is :mod:`tui.cli`: it sits where both the relay
and the UI are visible and gathers every verb, this package's among them
(``relay``, ``verify``, ``export``, ``audit``), so that the relay never imports
the UI. Heavy imports happen inside each verb so ``warroom --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.storage.service import ObjectStorage

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_relay(sub: Subparsers) -> None:
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


def fail(message: str) -> int:
    print(f"warroom: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- relay side


async def serve_until_signalled(
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
    from relay.cluster.settings import SettingsMismatch
    from relay.cluster.signing import ForeignKeyError
    from relay.config import ConfigError, load_config
    from relay.evidence.audit import AuditLog
    from relay.evidence.recording import recorder_factory
    from relay.evidence.witness import Witnesses, open_witness
    from relay.net.server import Relay
    from relay.store import Store, StoreError
    from relay.trust.keys import KeyFileError, SigningKey

    keys_dir = None
    try:
        config = load_config(args.config)
        keys_dir = config.data_dir / "keys"
        # In a cluster the database says which key is the cluster's before one is made.
        own_key = args.print_key or config.cluster.database is None
        signing = SigningKey.load_or_create(keys_dir) if own_key else None
    except (ConfigError, KeyFileError) as exc:
        return fail(str(exc))
    if signing is not None and args.print_key:
        print(signing.public.text())
        return 0

    witness, warning = open_witness(config.evidence.witness)
    storage = None
    if config.storage is not None:
        from relay.storage.service import ObjectStorage

        storage = ObjectStorage.open(config.storage, config.node, config.data_dir)

    async def run() -> None:
        from relay.store import open_store

        # First, so that a relay that cannot reach its state leaves no audit file behind.
        store = await open_store(config.data_dir, config.cluster.database, config.node)
        try:
            key = signing
            if key is None:
                from relay.cluster.signing import cluster_signing_key
                from relay.store.postgres import PostgresStore

                assert isinstance(store, PostgresStore) and keys_dir is not None
                key = await cluster_signing_key(store, keys_dir, config.node)
            if config.cluster.database is not None:
                from relay.cluster.settings import agree_settings
                from relay.store.postgres import PostgresStore

                assert isinstance(store, PostgresStore)
                await agree_settings(store, config)
            await serve(store, key)
        finally:
            await store.close()

    async def serve(store: Store, signing: SigningKey) -> None:
        warnings = [warning] if warning is not None else []
        backfill: asyncio.Task[None] | None = None
        if storage is not None:
            down = await _start_storage(storage, config.data_dir)
            if down is not None:  # what earlier runs left goes up once the bucket answers
                warnings.append(down)
                backfill = asyncio.create_task(_backfill_later(storage, config.data_dir))
        copy = None
        if config.cluster.database is not None:
            from relay.store.pg_audit import PostgresAudit

            copy = PostgresAudit(config.cluster.database, config.node, signing.public.text())
        witnesses = Witnesses(*(w for w in (witness, copy) if w is not None))
        audit = AuditLog(
            config.data_dir / "audit",
            signing,
            witness=witnesses if witnesses.witnesses else None,
            copy=copy,
            replicate=storage.uploader.audit if storage is not None else None,
        )
        recorder = recorder_factory(
            config.data_dir / "recordings",
            signing,
            audit=audit,
            max_loss=config.evidence.max_loss,
            replicate=storage.uploader.recording if storage is not None else None,
        )
        relay = Relay(config, signing, audit, recorder, store=store, storage=storage)
        if copy is not None:
            relay.watch_dependency("audit_copy", copy.check)

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

        def ready() -> None:
            print(f"warroom relay listening on {relay.url} (data in {config.data_dir})", flush=True)
            for text in warnings:  # after the banner, which scripts wait for
                print(f"warroom: WARNING: {text}", file=sys.stderr, flush=True)

        stopped = "relay stopped"
        try:
            try:
                await relay.start(insecure=args.insecure)
            except BaseException as exc:
                stopped = f"the relay did not start: {exc}"[:500]
                raise
            await serve_until_signalled(reload, ready)
        finally:
            if backfill is not None:
                backfill.cancel()
            await relay.close()
            audit.close(stopped)
            await asyncio.to_thread(witnesses.close)  # the database copy writes what waits
            if storage is not None:
                left = await asyncio.to_thread(storage.close, STORAGE_DRAIN)
                if left:
                    print(
                        f"warroom: WARNING: {len(left)} file(s) not fully uploaded to "
                        f"{storage.config.s3.url}; the next start uploads them: {', '.join(left)}",
                        file=sys.stderr,
                        flush=True,
                    )

    try:
        asyncio.run(run())
    except (OSError, ValueError, StoreError, ForeignKeyError, SettingsMismatch) as exc:
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


if __name__ == "__main__":  # the command moved; say where rather than do nothing
    sys.exit("warroom: run `warroom`, or `python -m tui.cli`")
