"""The object storage layer alone, against a real S3 server (moto's): a chain file that
grows, checkpoint by checkpoint, is in the bucket as a verified prefix, whole at its
seal, and an unreachable bucket is reported (health, overdue) and caught up with.

The writer here is the bare :class:`relay.evidence.chain.ChainWriter` (what recordings and
audit files are made of); :mod:`relay.evidence.verifier` judges what the bucket holds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from relay.evidence.chain import ChainWriter, Checkpoint
from relay.evidence.verifier import verify_file
from relay.storage.bucket import Bucket, NotFound, StorageError
from relay.storage.layout import SEGMENTS, recording_key
from relay.storage.reader import download, locate, read
from relay.storage.uploader import Replica, Uploader
from relay.trust.keys import SigningKey
from tests.s3 import Gate, MotoServer

KEY = SigningKey.generate()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


async def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.05)


def chain_file(path: Path, replica: Callable[[], Replica | None]) -> ChainWriter:
    """A chain file that tells ``replica()`` its size after every checkpoint and the seal."""
    writer: ChainWriter

    def checkpointed(checkpoint: Checkpoint) -> None:
        target = replica()
        if target is not None:
            target.checkpoint(writer.size, checkpoint.is_seal)

    writer = ChainWriter(
        path, KEY, '{"kind":"test"}', checkpoint_every_lines=50, on_checkpoint=checkpointed
    )
    return writer


def lines(writer: ChainWriter, count: int, seed: int, now: float) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        writer.append("".join(rng.choice("abcdef0123456789") for _ in range(1000)), now)


def test_a_growing_chain_is_a_verified_prefix_in_the_bucket_and_one_object_sealed(
    tmp_path: Path, moto: MotoServer
) -> None:
    config = moto.new_bucket()
    bucket = Bucket(config)
    uploader = Uploader(bucket, prefix=config.prefix, relay="r1", interval=0.0)
    uploader.start()
    path = tmp_path / "s1-20261127T101500Z.cast"
    key = recording_key(config.prefix, path.name)
    replica: list[Replica] = []
    writer = chain_file(path, lambda: replica[0] if replica else None)
    replica.append(uploader.recording(path, "s1"))
    try:
        for round in range(8):  # 8 x 1.5 MB: big segments, then a tail of small ones
            lines(writer, 1500, round, 1000.0 + round)
            writer.checkpoint(1000.0 + round)
            wait_until(lambda: uploader.health().files == 0, what="a round's upload")
            stored = locate(bucket, key)
            assert stored is not None and not stored.sealed
            copy = tmp_path / "prefix.cast"
            assert download(bucket, key, copy).size == stored.size
            assert path.read_bytes()[: stored.size] == copy.read_bytes()
            report = verify_file(copy, KEY.public)
            assert report.interrupted and report.unverified_lines == 0, report.summary()
        assert read(bucket, key, 10, 20) == path.read_bytes()[10:20]
        writer.seal("done", 1010.0)
        wait_until(lambda: uploader.health().files == 0, what="the seal's upload")
    finally:
        assert uploader.close(10) == []
    assert moto.keys(config.bucket) == [key]  # one object; every segment deleted
    assert moto.unfinished_uploads(config.bucket) == []
    head = moto.client().head_object(Bucket=config.bucket, Key=key)
    assert "-" in head["ETag"]  # composed by a multipart upload
    download(bucket, key, tmp_path / "sealed.cast")
    assert (tmp_path / "sealed.cast").read_bytes() == path.read_bytes()
    report = verify_file(tmp_path / "sealed.cast", KEY.public)
    assert report.ok and report.sealed and report.seal_reason == "done"


def test_a_relay_restart_resumes_from_the_segments_an_earlier_run_left(
    tmp_path: Path, moto: MotoServer
) -> None:
    """The first uploader stops without the seal (its relay died); a second one, told
    only the file's size and that it is sealed, lists the segments and composes it."""
    config = moto.new_bucket()
    bucket = Bucket(config)
    first = Uploader(bucket, prefix=config.prefix, relay="r1", interval=0.0)
    first.start()
    path = tmp_path / "s2-20261127T101500Z.cast"
    key = recording_key(config.prefix, path.name)
    replica: list[Replica] = []
    writer = chain_file(path, lambda: replica[0] if replica else None)
    replica.append(first.recording(path, "s2"))
    lines(writer, 6000, 1, 1000.0)  # 6 MB: one big segment at least
    writer.checkpoint(1000.0)
    wait_until(lambda: first.health().files == 0)
    first.close(10)
    assert any(SEGMENTS in k for k in moto.keys(config.bucket))
    replica.clear()
    writer.seal("relay restarted", 1001.0)
    second = Uploader(bucket, prefix=config.prefix, relay="r1", interval=0.0)
    second.start()
    try:
        second.resume(path, key, path.stat().st_size, sealed=True)
        wait_until(lambda: second.health().files == 0)
    finally:
        assert second.close(10) == []
    assert moto.keys(config.bucket) == [key]
    download(bucket, key, tmp_path / "sealed.cast")
    assert (tmp_path / "sealed.cast").read_bytes() == path.read_bytes()


def test_bucket_errors_name_the_object_and_the_cause(moto: MotoServer) -> None:
    config = moto.new_bucket()
    bucket = Bucket(config)
    try:
        bucket.get("prod/recordings/absent.cast")
    except NotFound as exc:
        assert f"s3://{config.bucket}/prod/recordings/absent.cast" in str(exc)
    else:
        raise AssertionError("a missing object was read")
    assert bucket.size("prod/recordings/absent.cast") is None
    assert locate(bucket, "prod/recordings/absent.cast") is None
    nowhere = Bucket(replace(config, bucket="no-such-bucket-here"))
    try:
        nowhere.probe()
    except StorageError as exc:
        assert "no-such-bucket-here" in str(exc)
    else:
        raise AssertionError("a missing bucket answered")


async def test_an_unreachable_bucket_is_reported_and_caught_up_with(
    tmp_path: Path, moto: MotoServer
) -> None:
    """The network to the bucket is cut: health fails with the cause, the recording is
    overdue once its lag passes ``max_lag``; restored, the backlog goes up."""
    gate = Gate(moto)
    await gate.open()
    config = replace(moto.new_bucket(), endpoint=gate.endpoint)
    bucket = Bucket(config, connect_timeout=1.0, read_timeout=2.0, attempts=1)
    uploader = Uploader(bucket, prefix=config.prefix, relay="r1", interval=0.1, max_lag=1.0)
    uploader.start()
    path = tmp_path / "s3-20261127T101500Z.cast"
    key = recording_key(config.prefix, path.name)
    replica: list[Replica] = []
    writer = chain_file(path, lambda: replica[0] if replica else None)
    replica.append(uploader.recording(path, "s3"))
    try:
        lines(writer, 100, 2, 1000.0)
        writer.checkpoint(1000.0)
        await until(lambda: uploader.health().files == 0, what="the first upload")
        assert uploader.health().ok and uploader.overdue() == []

        await gate.cut()
        lines(writer, 100, 3, 1001.0)
        writer.checkpoint(1001.0)
        await until(lambda: not uploader.health().ok, what="the failure to show")
        await until(lambda: uploader.overdue() != [], what="the recording to be overdue")
        (late,) = uploader.overdue()
        assert late.session == "s3" and late.lag > 1.0
        assert late.error is not None and "does not answer" in late.error, late.error
        health = uploader.health()
        assert health.files == 1 and health.backlog > 0 and health.error is not None
        assert health.fields()["where"] == config.url

        await gate.open()
        await until(lambda: uploader.health().ok and uploader.health().files == 0, 60)
        assert uploader.overdue() == []
        stored = await asyncio.to_thread(locate, bucket, key)  # through the gate, on this loop
        assert stored is not None and stored.size == path.stat().st_size
    finally:
        await asyncio.to_thread(uploader.close, 10)
        await gate.cut()
