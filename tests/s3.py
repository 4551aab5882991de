"""A real S3 HTTP server on 127.0.0.1 for tests: moto's standalone server.

The relay's object storage speaks the S3 API over HTTP through boto3, exactly
as it would to AWS S3 or MinIO; the tests give it moto's server
(``python -m moto.server``), started as a subprocess on a free loopback port,
as :mod:`tests.sshd` does for sshd. Nothing in the relay knows it is moto.

AWS settings are made hermetic for the whole test run (:func:`hermetic_aws`):
fixed test credentials and region, no shared config or credentials files, no
instance-metadata lookups (which would leave the loopback), no endpoint from
the environment.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from relay.storage.config import S3Config, StorageConfig
from tests.servers import ServerProcess, die_with_parent

START_TIMEOUT = 30.0

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "warroom-test",
    "AWS_SECRET_ACCESS_KEY": "warroom-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def hermetic_aws() -> None:
    """Point every AWS client of this process (and its children) at test settings only."""
    os.environ.update(AWS_ENV)
    for name in AWS_UNSET:
        os.environ.pop(name, None)


class MotoServer(ServerProcess):
    """One ``moto.server`` process serving S3 on loopback; its state lives in its memory."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.log_path = directory / "moto.log"
        self._buckets = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (a restart after :meth:`stop`), or on a free one.

        :meth:`stop` makes every request fail (connection refused)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._launch_on_a_free_port(keep=port)

    def client(self) -> Any:
        """A plain boto3 client for the test's own look at the bucket."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self, prefix: str = "prod/") -> S3Config:
        """A fresh bucket for one test (tests share the server, never a bucket)."""
        self._buckets += 1
        name = f"warroom-{os.getpid()}-{self._buckets}"
        self.client().create_bucket(Bucket=name)
        return S3Config(bucket=name, endpoint=self.endpoint, prefix=prefix)

    def storage(
        self, prefix: str = "prod/", *, interval: float = 0.2, max_lag: float = 30.0
    ) -> StorageConfig:
        return StorageConfig(self.new_bucket(prefix), interval=interval, max_lag=max_lag)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listing.get("Contents", ()))

    def unfinished_uploads(self, bucket: str) -> list[str]:
        answer = self.client().list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in answer.get("Uploads", ())]

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(self.stop_signal),  # a killed run stops it too
            )
        self._wait_until_it_answers(lambda: _answers_http(self.endpoint), START_TIMEOUT, poll=0.1)


def _answers_http(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/moto-api/", timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto S3 server for the whole test session (each test takes its own bucket)."""
    hermetic_aws()
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def own_moto(tmp_path: Path) -> Iterator[MotoServer]:
    """A moto server for one test, which may stop it (an unreachable bucket)."""
    hermetic_aws()
    with MotoServer(tmp_path / "moto") as server:
        yield server


class Gate:
    """A TCP relay between the relay under test and the S3 server: a network path
    that can be cut (connections refused, open ones reset) and restored, while the
    bucket keeps its objects. Runs on the test's event loop."""

    def __init__(self, upstream: MotoServer) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream.port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self._writers.difference_update((writer, up_writer))
