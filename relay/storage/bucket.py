"""The few S3 requests warroom makes, over boto3, with errors people can read.

Blocking: call it from a worker thread (:mod:`relay.storage.uploader`) or
through ``asyncio.to_thread``, never on the relay's event loop. One
:class:`Bucket` may be used from several threads at once (boto3 clients are
thread-safe; sessions and resources are not, so neither is kept).

Nothing here is specific to one server: the same requests work against AWS
S3, MinIO, Ceph RGW or the moto server the tests run. Timeouts are short
(connect 5 s, read 30 s, 3 attempts with botocore's standard retry mode) so
that an unreachable bucket is noticed in seconds, not minutes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from relay.core.errors import WarroomError
from relay.storage.config import S3Config

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
ATTEMPTS = 3
_DELETE_BATCH = 1000  # S3: keys per DeleteObjects request


class StorageError(WarroomError):
    """A request to the bucket failed; the message says which and why, for people."""


class NotFound(StorageError):
    """The object (or bucket) does not exist."""


class Bucket:
    """One bucket of an S3-compatible server; keys are full keys (prefix included)."""

    def __init__(
        self,
        config: S3Config,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        attempts: int = ATTEMPTS,
    ) -> None:
        path_style = config.path_style if config.path_style is not None else bool(config.endpoint)
        session = boto3.session.Session(region_name=config.region)
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=config.endpoint,
            config=Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "max_attempts": attempts},
                # Checksums only where S3 requires them: the CRC headers botocore adds by
                # default since 1.36 are refused by some S3-compatible servers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.config = config
        self.name = config.bucket

    def put(self, key: str, data: bytes) -> None:
        self._call("upload", key, self._client.put_object, Bucket=self.name, Key=key, Body=data)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of an object (to its end when ``end`` is None)."""
        span = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        answer = self._call(
            "download", key, self._client.get_object, Bucket=self.name, Key=key, Range=span
        )
        data: bytes = self._call("download", key, answer["Body"].read)
        return data

    def size(self, key: str) -> int | None:
        """The object's size, or None when there is no such object."""
        try:
            head = self._call("look up", key, self._client.head_object, Bucket=self.name, Key=key)
        except NotFound:
            return None
        return int(head["ContentLength"])

    def list(
        self, prefix: str, delimiter: str | None = None
    ) -> tuple[list[tuple[str, int]], list[str]]:
        """Objects under ``prefix`` (key, size), and with ``delimiter`` the common prefixes."""
        objects: list[tuple[str, int]] = []
        prefixes: list[str] = []
        extra: dict[str, Any] = {"Delimiter": delimiter} if delimiter else {}
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix, **extra
        )
        for page in self._call("list", prefix, list, pages):
            objects.extend((o["Key"], int(o["Size"])) for o in page.get("Contents", ()))
            prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return objects, prefixes

    def delete(self, keys: Sequence[str]) -> None:
        for at in range(0, len(keys), _DELETE_BATCH):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": key} for key in keys[at : at + _DELETE_BATCH]
            ]
            answer = self._call(
                "delete",
                batch[0]["Key"],
                self._client.delete_objects,
                Bucket=self.name,
                Delete={"Objects": batch, "Quiet": True},
            )
            failed = answer.get("Errors", [])
            if failed:
                first = failed[0]
                raise StorageError(
                    f"cannot delete {self._where(str(first.get('Key')))}: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )

    def compose(
        self, key: str, copies: Sequence[str], uploads: Sequence[Callable[[], bytes]]
    ) -> None:
        """One multipart upload: ``copies`` (objects in this bucket, copied server-side)
        then the bytes each of ``uploads`` returns, as parts in that order.

        On any failure the upload is aborted, so no unfinished upload is left
        behind (unless the abort fails too: a lifecycle rule clears those).
        """
        client = self._client
        started = self._call(
            "start a multipart upload of",
            key,
            client.create_multipart_upload,
            Bucket=self.name,
            Key=key,
        )
        upload = {"Bucket": self.name, "Key": key, "UploadId": started["UploadId"]}
        parts: list[CompletedPartTypeDef] = []
        try:
            for source in copies:
                copied = self._call(
                    "copy a part of",
                    key,
                    client.upload_part_copy,
                    PartNumber=len(parts) + 1,
                    CopySource={"Bucket": self.name, "Key": source},
                    **upload,
                )
                parts.append(
                    {"PartNumber": len(parts) + 1, "ETag": copied["CopyPartResult"]["ETag"]}
                )
            for read in uploads:
                sent = self._call(
                    "upload a part of",
                    key,
                    client.upload_part,
                    PartNumber=len(parts) + 1,
                    Body=read(),
                    **upload,
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": sent["ETag"]})
            self._call(
                "complete the upload of",
                key,
                client.complete_multipart_upload,
                MultipartUpload={"Parts": parts},
                **upload,
            )
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):
                client.abort_multipart_upload(**upload)  # the first error is the one to report
            raise

    def probe(self) -> None:
        """Raise :class:`StorageError` unless the bucket answers (``HeadBucket``)."""
        self._call("reach", "", self._client.head_bucket, Bucket=self.name)

    def _call(
        self, what: str, key: str, request: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return request(*args, **kwargs)
        except ClientError as exc:
            raise _client_error(exc, what, self._where(key)) from None
        except NoCredentialsError:
            raise StorageError(
                f"cannot {what} {self._where(key)}: no AWS credentials (set AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or give the machine a role)"
            ) from None
        except EndpointConnectionError:
            raise StorageError(
                f"cannot {what} {self._where(key)}: the server does not answer "
                f"({self.config.endpoint or 'AWS S3'})"
            ) from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot {what} {self._where(key)}: {exc}") from None

    def _where(self, key: str) -> str:
        at = f" at {self.config.endpoint}" if self.config.endpoint else ""
        return f"s3://{self.name}/{key}{at}"


def _client_error(exc: ClientError, what: str, where: str) -> StorageError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "error"))
    message = str(error.get("Message", "") or exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    kind = (
        NotFound
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound") or status == 404
        else StorageError
    )
    return kind(f"cannot {what} {where}: {code}: {message}")
