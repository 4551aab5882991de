"""Recordings and audit files in object storage, against a real S3 server (moto's).

Every test speaks S3 over HTTP to ``moto.server`` on loopback through the
relay's own code; the test reads the bucket back with a plain boto3 client
or through ``warroom verify s3://``, and ``warroom verify`` is the judge of
what is there.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from relay.cli.review import EXIT_ERROR, EXIT_OK, EXIT_UNSEALED
from relay.core.session import Session
from relay.evidence.audit import read_events
from relay.evidence.recording import Recording
from relay.storage.bucket import Bucket
from relay.storage.config import S3Config, StorageConfig
from relay.storage.layout import SEGMENTS, recording_key
from relay.storage.reader import download, locate
from relay.storage.uploader import Uploader
from relay.trust.keys import SigningKey
from tests.harness import read_until, running_relay
from tests.recordings import START, sample_session
from tests.relay.evidence.test_recording_live import WARROOM
from tests.s3 import Gate, MotoServer
from tests.tools import stop
from tui.cli import main
from tui.client import RelayClient, RelayError

KEY = SigningKey.generate()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


async def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def verify_s3(moto: MotoServer, bucket: str, key: str, capsys: Any) -> tuple[int, str]:
    """``warroom verify s3://bucket/key --s3-endpoint ...``, as an auditor runs it."""
    code = main(
        [
            "verify",
            f"s3://{bucket}/{key}",
            "--s3-endpoint",
            moto.endpoint,
            "--key",
            KEY.public.text(),
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def flood(rec: Recording, megabytes: int, start: float) -> float:
    """Output that does not compress, 64 KiB every 10 ms of the script's clock."""
    rng = random.Random(megabytes)
    now = start
    for _ in range(megabytes * 16):
        now += 0.01
        line = "".join(rng.choice("abcdefghij0123456789") for _ in range(127)) + "\n"
        rec.output(line.encode() * 512, now)
        rec.tick(now)
    return now


# ---------------------------------------------------------------- the uploader and a recording


def test_a_recording_is_in_the_bucket_at_its_checkpoints_and_whole_at_its_seal(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = moto.new_bucket()
    bucket = Bucket(config)
    uploader = Uploader(bucket, prefix=config.prefix, relay="r1", interval=0.0)
    uploader.start()
    try:
        path = tmp_path / "s1-20261127T101500Z.cast"
        core = Session("s1", "sandbox", "alice", START, reason="INC-7")
        rec = Recording(
            path, KEY, core, 80, 24, START, replicate=lambda p: uploader.recording(p, "s1")
        )
        key = recording_key(config.prefix, path.name)
        rec.event("j", {"user": "alice", "role": "lead", "id": "c1"}, START)
        now = flood(rec, 12, START)
        wait_until(lambda: uploader.health().files == 0, what="the checkpoints' upload")
        stored = locate(bucket, key)
        assert stored is not None and not stored.sealed  # growing: segments only
        assert any(s.big for s in stored.segments)  # the flood made part-sized ones
        copy = download(bucket, key, tmp_path / "prefix.cast")
        assert copy.size == stored.size
        local = path.read_bytes()
        assert (tmp_path / "prefix.cast").read_bytes() == local[: stored.size]
        code, text = verify_s3(moto, config.bucket, key, capsys)
        assert code == EXIT_UNSEALED and "INTERRUPTED" in text, text
        assert "unverified" not in text  # the bucket's copy ends at a checkpoint

        rec.event("x", {"reason": "done", "exit_status": 0}, now)
        rec.close("done", now)
        wait_until(lambda: uploader.health().files == 0, what="the seal's upload")
    finally:
        assert uploader.close(10) == []
    keys = moto.keys(config.bucket)
    assert keys == [key]  # one object; the segments are gone
    head = moto.client().head_object(Bucket=config.bucket, Key=key)
    assert head["ETag"].strip('"').endswith(tuple(f"-{n}" for n in range(2, 10)))  # multipart
    assert head["ContentLength"] == path.stat().st_size
    assert moto.unfinished_uploads(config.bucket) == []
    code, text = verify_s3(moto, config.bucket, key, capsys)
    assert code == EXIT_OK and "OK," in text and "sealed (done)" in text, text
    assert f"s3://{config.bucket}/{key}" in text  # named by its URL, not a temporary path


def test_a_quiet_recording_is_one_object_and_never_many(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = moto.new_bucket("")
    bucket = Bucket(config)
    uploader = Uploader(bucket, prefix="", relay="r1", interval=0.0)
    uploader.start()
    try:
        path = tmp_path / "s2-20261127T101500Z.cast"
        key = recording_key("", path.name)
        core = Session("s2", "sandbox", "alice", START, reason="INC-8")
        rec = Recording(
            path, KEY, core, 80, 24, START, replicate=lambda p: uploader.recording(p, "s2")
        )
        now = START
        most = 0
        for i in range(60):  # a quiet session: a line a second, each one uploaded
            now += 1.0
            rec.output(f"tick {i}\r\n".encode(), now)
            rec.tick(now + 0.5)
            wait_until(lambda: uploader.health().files == 0)
            most = max(most, len(moto.keys(config.bucket, key + SEGMENTS)))
        assert most <= 32 + 1  # merged, never more than ROLLUP_COUNT small segments
        rec.close("done", now)
        wait_until(lambda: uploader.health().files == 0)
    finally:
        uploader.close(10)
    assert moto.keys(config.bucket) == [key]
    head = moto.client().head_object(Bucket=config.bucket, Key=key)
    assert "-" not in head["ETag"]  # a single PUT
    assert verify_s3(moto, config.bucket, key, capsys)[0] == EXIT_OK


def test_verify_s3_says_what_is_wrong(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = moto.new_bucket()
    code, text = verify_s3(moto, config.bucket, "prod/recordings/missing.cast", capsys)
    assert code == EXIT_ERROR and "nothing of" in text and "missing.cast" in text
    code, text = verify_s3(moto, config.bucket, "", capsys)
    assert code == EXIT_ERROR and "name an object" in text
    assert main(["verify", "s3://Bad_Bucket/x.cast"]) == EXIT_ERROR
    assert "S3 bucket name" in capsys.readouterr().err
    # tampering in the bucket is found like tampering on disk
    cast = sample_session(tmp_path / "s3.cast", KEY)
    moto.client().put_object(
        Bucket=config.bucket,
        Key="prod/recordings/s3.cast",
        Body=cast.read_bytes().replace(b"disk", b"dusk", 1),
    )
    code, text = verify_s3(moto, config.bucket, "prod/recordings/s3.cast", capsys)
    assert code == 1 and "TAMPERED" in text and "edited" in text


# ---------------------------------------------------------------- a relay killed mid-session


def _storage_toml(
    path: Path,
    data: Path,
    listen: int,
    target: dict[str, Any],
    s3: S3Config,
    alice: asyncssh.SSHKey,
) -> None:
    public = alice.export_public_key("openssh").decode().strip()
    path.write_text(
        "\n".join(
            [
                "[relay]",
                f'listen = "127.0.0.1:{listen}"',
                'name = "relay-1"',
                f'data_dir = "{data}"',
                "[storage]",
                f's3 = {{ endpoint = "{s3.endpoint}", bucket = "{s3.bucket}", '
                f'prefix = "{s3.prefix}" }}',
                'interval = "200ms"',
                "[targets.sandbox]",
                'host = "127.0.0.1"',
                f"port = {target['port']}",
                'user = "demo"',
                f'key = "{target["key"]}"',
                f'known_hosts = "{target["known_hosts"]}"',
                "[users.alice]",
                f'keys = ["{public}"]',
                'roles = ["lead"]',
            ]
        )
        + "\n"
    )


async def test_a_relay_killed_mid_session_leaves_a_verifiable_prefix_in_the_bucket(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``warroom relay`` as deployed, SIGKILLed while output flows: ``verify`` from the
    bucket says interrupted (not tampered), and the bucket's copy is the disk's prefix."""
    from relay.cli.sandbox import SandboxTarget

    s3 = moto.new_bucket()
    relay_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "relay_client_key"
    relay_key.write_private_key(str(key_path))
    sandbox = SandboxTarget(
        relay_key, shell=["/bin/bash", "--norc", "--noprofile", "-i"], env={"PS1": "$ "}
    )
    await sandbox.start()
    sandbox.write_known_hosts(tmp_path / "known_hosts")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = {"port": sandbox.port, "key": key_path, "known_hosts": tmp_path / "known_hosts"}
    alice_key = asyncssh.generate_private_key("ssh-ed25519")
    config = tmp_path / "relay.toml"
    data = tmp_path / "data"
    _storage_toml(config, data, port, target, s3, alice_key)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    alice = RelayClient(f"ws://127.0.0.1:{port}")
    try:
        assert process.stdout is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        assert "listening on" in banner, banner + (process.stderr.read() if process.stderr else "")
        await alice.connect()
        await alice.auth_ssh_key("alice", alice_key)
        session = await alice.open("sandbox", "INC-9: kill me")
        await alice.join(session)
        await alice.send_input(b"for i in $(seq 1 100000); do echo line-$i; sleep 0.001; done\r")
        await read_until(alice, b"line-500", timeout=60)
        key_prefix = f"{s3.prefix}recordings/{session}-"
        await until(
            lambda: len([k for k in moto.keys(s3.bucket, key_prefix) if SEGMENTS in k]) >= 3,
            what="segments in the bucket",
        )
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
        await alice.close()
        await sandbox.close()
    (path,) = (data / "recordings").glob(f"{session}-*.cast")
    key = recording_key(s3.prefix, path.name)
    public = subprocess.run(
        [*WARROOM, "relay", "--config", str(config), "--print-key"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    code = main(
        ["verify", f"s3://{s3.bucket}/{key}", "--s3-endpoint", moto.endpoint, "--key", public]
    )
    text = "".join(capsys.readouterr())
    assert code == EXIT_UNSEALED, text
    assert "INTERRUPTED (no seal)" in text and "TAMPERED" not in text
    stored = locate(Bucket(s3), key)
    assert stored is not None and not stored.sealed and stored.size > 0
    download(Bucket(s3), key, tmp_path / "from-bucket.cast")
    assert path.read_bytes().startswith((tmp_path / "from-bucket.cast").read_bytes())
    # the audit file of that run went up too, under the relay's name, and verifies as
    # interrupted from the bucket like the recording
    audit_keys = [k for k in moto.keys(s3.bucket, f"{s3.prefix}audit/relay-1/") if "audit-" in k]
    (audit_file,) = {k.split(SEGMENTS)[0] for k in audit_keys}
    url = f"s3://{s3.bucket}/{audit_file}"
    code = main(["verify", url, "--s3-endpoint", moto.endpoint, "--key", public])
    text = "".join(capsys.readouterr())
    assert code == EXIT_UNSEALED and "TAMPERED" not in text, text


async def test_a_relay_started_while_the_bucket_is_down_refuses_sessions_then_catches_up(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``warroom relay`` whose bucket does not answer at start: it serves, warns after
    its banner, answers 503 and refuses to open a session; once the bucket answers it
    uploads the recording an earlier run left on its disk and opens sessions again."""
    from relay.cli.sandbox import SandboxTarget

    gate = Gate(moto)
    with socket.socket() as probe:  # the gate's port, closed until the bucket "comes back"
        probe.bind(("127.0.0.1", 0))
        gate.port = probe.getsockname()[1]
    s3 = replace(moto.new_bucket(), endpoint=gate.endpoint)
    relay_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "relay_client_key"
    relay_key.write_private_key(str(key_path))
    sandbox = SandboxTarget(
        relay_key, shell=["/bin/bash", "--norc", "--noprofile", "-i"], env={"PS1": "$ "}
    )
    await sandbox.start()
    sandbox.write_known_hosts(tmp_path / "known_hosts")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = {"port": sandbox.port, "key": key_path, "known_hosts": tmp_path / "known_hosts"}
    alice_key = asyncssh.generate_private_key("ssh-ed25519")
    config, data = tmp_path / "relay.toml", tmp_path / "data"
    _storage_toml(config, data, port, target, s3, alice_key)
    (data / "recordings").mkdir(parents=True, mode=0o700)
    left = sample_session(data / "recordings" / "old-20261127T101500Z.cast", KEY)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    alice = RelayClient(f"ws://127.0.0.1:{port}")
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        assert "listening on" in banner, banner
        warning = ""
        for _ in range(5):  # (a warning about the witness may come first)
            warning = await asyncio.to_thread(process.stderr.readline)
            if "object storage" in warning or not warning:
                break
        assert warning.startswith("warroom: WARNING: object storage: cannot reach "), warning
        assert "no session can be opened until it answers" in warning, warning
        status, text = await healthz(port, "")
        assert status == 503 and text.startswith("storage: cannot reach "), text
        await alice.connect()
        await alice.auth_ssh_key("alice", alice_key)
        with pytest.raises(RelayError) as refused:
            await alice.open("sandbox", "INC-13: the bucket is away")
        assert refused.value.code == "unavailable", refused.value

        await gate.open()
        key = recording_key(s3.prefix, left.name)
        await until(lambda: key in moto.keys(s3.bucket), 60, "the earlier run's recording")
        deadline = time.monotonic() + 60
        while (await healthz(port, ""))[0] != 200:
            assert time.monotonic() < deadline, "the relay never saw the bucket come back"
            await asyncio.sleep(0.2)
        session = await alice.open("sandbox", "INC-13: the bucket is back")
        assert session
    finally:
        await stop(process, timeout=60)
        await alice.close()
        await sandbox.close()
        await gate.cut()
    assert moto.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() == left.read_bytes()


# ---------------------------------------------------------------- failing closed


async def healthz(port: int, query: str = "?format=json") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /healthz{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response = (await reader.read(65536)).decode()
    writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_an_unreachable_bucket_fails_closed_and_recovers(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The network to the bucket is cut: /healthz says so, a new session is refused
    with a clear error, the session being recorded ends once its recording waited
    ``max_lag`` (2 s here) for the bucket; restored, it all catches up."""
    gate = Gate(moto)
    await gate.open()
    s3 = replace(moto.new_bucket(), endpoint=gate.endpoint)
    storage = StorageConfig(s3, interval=0.2, max_lag=2.0)
    async with running_relay(tmp_path, recordings=True, storage=storage) as h:
        assert h.storage is not None
        uploader = h.storage.uploader
        session = await h.open()
        alice = await h.joined("alice", session)
        await alice.send_input(b"echo BEFORE-$((6*7))\r")
        await read_until(alice, b"BEFORE-42")
        await until(lambda: uploader.health().files == 0)
        status, body = await healthz(h.relay.port)
        assert status == 200 and json.loads(body)["checks"]["storage"]["ok"], body

        await gate.cut()
        bob = await h.joined("bob", session)  # a viewer: they see the end too
        await alice.send_input(b"echo DURING-$((6*7))\r")
        await read_until(bob, b"DURING-42")
        ended = await alice.expect("ended", timeout=60)
        reason = ended["reason"]
        assert reason.startswith("the recording cannot be stored: "), reason
        assert f"have not reached s3://{s3.bucket}/prod/" in reason, reason
        assert "(the limit is 2 s)" in reason, reason
        assert "the server does not answer" in reason, reason
        assert (await bob.expect("ended"))["reason"] == reason
        status, body = await healthz(h.relay.port)
        state = json.loads(body)
        assert status == 503 and not state["ok"], body
        storage_state = state["checks"]["storage"]
        assert not storage_state["ok"] and "does not answer" in storage_state["error"]
        assert storage_state["files_waiting"] >= 1 and storage_state["backlog_bytes"] > 0
        status, text = await healthz(h.relay.port, "")
        assert status == 503 and text.startswith("storage: cannot "), text
        lead = await h.login("alice")
        with pytest.raises(RelayError) as refused:
            await lead.open("sandbox", "INC-11: while the bucket is away")
        assert refused.value.code == "unavailable"
        assert refused.value.message.startswith("no new session can be recorded now: storage ")
        closed = [e for e in read_events(h.data_dir / "audit") if e["event"] == "session.close"]
        assert closed and closed[0]["reason"] == reason

        await gate.open()  # restored: the sealed recording and the audit log catch up
        await until(lambda: uploader.health().ok and uploader.health().files == 0, 60)
        second = await lead.open("sandbox", "INC-12: the bucket is back")
        assert second != session
        (path,) = (h.data_dir / "recordings").glob(f"{session}-*.cast")
    key = recording_key(s3.prefix, path.name)
    code = main(["verify", f"s3://{s3.bucket}/{key}", "--s3-endpoint", moto.endpoint])
    text = "".join(capsys.readouterr())
    assert code == EXIT_OK and "the recording cannot be stored" in text, text
