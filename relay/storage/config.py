"""``[storage]`` in ``relay.toml``: where recordings and audit files are kept besides the disk.

::

    [storage]
    s3 = { endpoint = "https://s3.example.com", bucket = "warroom", prefix = "prod/" }
    interval = "1s"      # at most one upload per file per interval (a seal goes at once)
    max_lag = "30s"      # a recording whose signed state waited longer ends its session
    cache_size = 2147483648  # bytes of bucket-only recordings kept for reviewers

Credentials and, unless given here, the region come from the standard AWS
sources (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
``AWS_PROFILE`` and ``~/.aws/credentials``, ``AWS_REGION``/``~/.aws/config``,
an instance or container role): the config file never holds a secret.

Pure: the converters raise ``ValueError`` with a sentence, and
:mod:`relay.config` names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3's bucket naming rules (3-63 lowercase letters, digits, dots and hyphens)."""
S3_KEYS = ("endpoint", "bucket", "prefix", "region", "path_style")
STORAGE_KEYS = ("s3", "interval", "max_lag", "cache_size")
MAX_PREFIX = 512  # S3 keys are at most 1024 bytes; the prefix leaves room for the name
DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_LAG = 30.0
DEFAULT_CACHE_SIZE = 2 << 30


@dataclass(frozen=True)
class S3Config:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph RGW...) and the key prefix to write under."""

    bucket: str
    endpoint: str | None = None
    """``None``: AWS S3 itself, for the region."""
    prefix: str = ""
    """Empty, or ending in ``/`` (``prod/``): several relays or clusters can share a bucket."""
    region: str | None = None
    """``None``: from ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or ``~/.aws/config``."""
    path_style: bool | None = None
    """``bucket`` in the path, not the host name; ``None``: when an endpoint is given
    (MinIO and most self-hosted servers have no per-bucket host names)."""

    @property
    def url(self) -> str:
        """How to name the bucket to people: ``s3://bucket/prefix`` (at the endpoint)."""
        at = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{at}"


@dataclass(frozen=True)
class StorageConfig:
    """Object storage for evidence files, and the numbers that make it fail closed.

    ``interval``: seconds between two uploads of the same growing file (each
    upload is one request and one object; 0 uploads at every checkpoint).
    ``max_lag``: a session whose recording has a signed checkpoint that has not
    reached the bucket after this many seconds is ended (:mod:`relay.storage`).
    ``cache_size``: bytes of recordings that are only in the bucket kept on this
    relay's disk once a reviewer listed or fetched them.
    """

    s3: S3Config
    interval: float = DEFAULT_INTERVAL
    max_lag: float = DEFAULT_MAX_LAG
    cache_size: int = DEFAULT_CACHE_SIZE


def parse_bucket(value: Any) -> str:
    if not isinstance(value, str) or not BUCKET.fullmatch(value) or ".." in value:
        raise ValueError(
            "expected an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-'), "
            f"got {value!r}"
        )
    return value


def parse_endpoint(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a URL such as 'https://s3.example.com', got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError(f"expected the server's URL alone, without a path, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def parse_prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a key prefix such as 'prod/', got {value!r}")
    if value and not value.endswith("/"):
        raise ValueError(f"end the prefix with '/' (as in {value + '/'!r}), got {value!r}")
    if value.startswith("/") or "//" in value:
        raise ValueError(f"a prefix neither starts with '/' nor has an empty part, got {value!r}")
    if len(value.encode()) > MAX_PREFIX or not value.isprintable():
        raise ValueError(f"expected at most {MAX_PREFIX} printable bytes, got {value!r}")
    return value


def parse_region(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9-]{1,64}", value):
        raise ValueError(f"expected a region name such as 'eu-west-1', got {value!r}")
    return value


def parse_cache_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a number of bytes (0 or more), got {value!r}")
    return value
