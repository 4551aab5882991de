"""The relay's object storage as one thing to open, start and close.

Besides the files the writers report, :meth:`ObjectStorage.backfill` queues
what an earlier run left on disk and not in the bucket: a recording or audit
file whose relay crashed (its bucket copy then catches up with the verified
prefix on disk), stopped before the upload ended, or ran without
``[storage]``. This module may import :mod:`relay.evidence.chain` (to tell a file
being written, and a sealed one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relay.evidence.chain import SEAL_PREFIX, is_being_written
from relay.storage.bucket import Bucket
from relay.storage.config import StorageConfig
from relay.storage.layout import audit_key, recording_key
from relay.storage.reader import Mirror
from relay.storage.uploader import Uploader

CACHE_DIR = "cache/recordings"  # under the data dir: copies of recordings only in the bucket


@dataclass
class ObjectStorage:
    """The relay's bucket: its uploader (for the writers) and its mirror (for reviewers)."""

    config: StorageConfig
    bucket: Bucket
    uploader: Uploader
    mirror: Mirror

    @classmethod
    def open(cls, config: StorageConfig, relay: str, data_dir: Path) -> ObjectStorage:
        """Set up the client and the cache; nothing is sent before :meth:`start`.

        ``relay`` names this relay's audit files in the bucket: its node
        (:attr:`relay.config.RelayConfig.node`), which is ``[relay] name`` for a
        relay on its own, and differs between the relays of a cluster, which
        share the name and name their audit files alike.
        """
        bucket = Bucket(config.s3)
        uploader = Uploader(
            bucket,
            prefix=config.s3.prefix,
            relay=relay,
            interval=config.interval,
            max_lag=config.max_lag,
        )
        mirror = Mirror(bucket, config.s3.prefix, data_dir / CACHE_DIR, config.cache_size)
        return cls(config, bucket, uploader, mirror)

    def start(self) -> None:
        self.uploader.start()

    def backfill(self, data_dir: Path) -> int:
        """Queue the files on disk that the bucket lacks (blocking: run it in a thread).

        One listing per directory finds the files already sealed in the
        bucket; a file another writer holds (this run's audit file) is left
        to that writer. Returns how many files were queued.
        """
        prefix, relay = self.config.s3.prefix, self.uploader.relay
        queued = 0
        kinds: list[tuple[Path, str, Callable[[str], str]]] = [
            (data_dir / "recordings", "*.cast", functools.partial(recording_key, prefix)),
            (data_dir / "audit", "audit-*.log", functools.partial(audit_key, prefix, relay)),
        ]
        for directory, pattern, key_of in kinds:
            if not directory.is_dir():
                continue
            folder = key_of("")
            sealed_here = {key for key, _ in self.bucket.list(folder, "/")[0]}
            for path in sorted(directory.glob(pattern)):
                key = key_of(path.name)
                if key in sealed_here or not path.is_file() or is_being_written(path):
                    continue
                size = path.stat().st_size
                if size:
                    self.uploader.resume(path, key, size, _sealed(path, size))
                    queued += 1
        return queued

    def close(self, timeout: float = 10.0) -> list[str]:
        """Upload what is left within ``timeout`` (seals included); return the keys left."""
        return self.uploader.close(timeout)


def _sealed(path: Path, size: int) -> bool:
    """Whether the file's last line is its seal (cheap: the verifier judges it later)."""
    with path.open("rb") as handle:
        handle.seek(max(0, size - 4096))
        tail = handle.read()
    return tail.endswith(b"\n") and tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].startswith(
        SEAL_PREFIX.encode()
    )
