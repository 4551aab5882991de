"""The cluster's Redis URL (``[cluster] redis``), checked when the config is read.

Here, below :mod:`relay.config`, beside the database URL's check
(:func:`relay.store.pg_database.check_dsn`): the config may not import
:mod:`relay.cluster`, which connects with it (:mod:`relay.cluster.bus`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(text: str) -> str:
    """``text`` if redis-py can connect with it; else ``ValueError`` saying why."""
    if urlsplit(text).scheme not in SCHEMES:
        raise ValueError(
            f"expected a redis://, rediss:// or unix:// URL, got {redact_redis_url(text)!r}"
        )
    from redis.asyncio import ConnectionPool  # redis-py loads only for a cluster

    try:
        ConnectionPool.from_url(text)
    except ValueError as exc:
        raise ValueError(f"not a usable Redis URL: {exc}") from None
    return text


def redact_redis_url(url: str) -> str:
    """A Redis URL for people and logs: everything but a password."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
