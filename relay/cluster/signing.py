"""One signing key for every relay of a cluster, checked against the database at start.

A relay signs tokens, invites, recording and audit checkpoints with its
ed25519 key (:mod:`relay.trust.keys`). Relays of one cluster must share it: a token
issued by relay a is presented to relay b after a reconnect through the load
balancer, and each relay's recordings must verify with the one key an auditor
holds. So in cluster mode the database names the cluster's key, and a relay
whose key is another one does not start.

Where the private key lives, and why not in the database
--------------------------------------------------------
The private key stays in each relay's ``<data-dir>/keys`` (mode 0600), put
there by whoever deploys the relays (a secret mount, a configuration
manager). The database holds only the cluster's **public** key, the node that
registered it and when. Whoever can read the private key can mint a token
for any configured user, lead included, and so open a shell on every target:
keeping it in the database would hand the production hosts to anyone who can
read a table (a replica, a backup, a monitoring role, an SQL injection in
another application sharing the server). Encrypting it there with a secret
every relay holds would only move the problem: that secret must reach every
relay exactly as the key file does. With the public key alone, reading the
database gives nothing to sign with; writing it can only make relays refuse
to start (a relay verifies tokens with its own key, never with the
database's). ``docs/scaling.md`` tells operators the same.

At start (:func:`cluster_signing_key`)
--------------------------------------
========================  ==========================  ============================
this relay's keys/        the database                what happens
========================  ==========================  ============================
a key                     no key yet                  this key becomes the cluster's
no key                    no key yet                  one is generated, then registered
a key                     the same key                the relay starts
a key                     another key                 refused: copy the cluster's key
no key                    a key                       refused: copy the cluster's key
========================  ==========================  ============================

Registering is one serializable transaction (:meth:`PostgresStore.register_key`):
of two relays starting together on an empty database with different keys,
exactly one key becomes the cluster's and the other relay is refused, saying
which node holds it. A key this relay generated for a registration it lost
is removed again, so its ``keys/`` is left empty for the copy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from relay.core.errors import WarroomError
from relay.trust.keys import KEY_FILE, PUBLIC_KEY_FILE, SigningKey

if TYPE_CHECKING:  # psycopg loads only where a database is configured
    from relay.store.postgres import ClusterKey


class ForeignKeyError(WarroomError):
    """This relay's signing key is not the cluster's (or it has none); the message says
    what to copy where."""


def mismatch(keys_dir: Path, local: str | None, cluster: ClusterKey, where: str) -> str:
    """Why a relay with ``local`` (None: no key) cannot serve a cluster whose key is
    ``cluster``, and what to do about it."""
    fix = (
        f"copy {KEY_FILE} and {PUBLIC_KEY_FILE} from the keys directory of relay node "
        f"{cluster.node!r} (or of any relay of this cluster) into {keys_dir} (mode 0600), "
        "then start again"
    )
    if local is None:
        return (
            f"this relay has no signing key in {keys_dir}, and the cluster's key in {where} is "
            f"{cluster.public_key} (registered by node {cluster.node!r}): every relay of a "
            f"cluster signs with one key; {fix}"
        )
    return (
        f"this relay's signing key {local} (in {keys_dir}) is not the cluster's: the state "
        f"database {where} names {cluster.public_key} (registered by node {cluster.node!r}); "
        f"tokens this relay issued would be refused by the other relays and its recordings "
        f"would not verify with the cluster's key; {fix}"
    )


class KeyRegistry(Protocol):
    """What :func:`cluster_signing_key` needs of the database
    (:class:`relay.store.postgres.PostgresStore`)."""

    @property
    def where(self) -> str:
        """The database, named without its password."""
        ...

    async def cluster_key(self) -> ClusterKey | None:
        """The cluster's key, or None before a relay registered one."""
        ...

    async def register_key(self, public_key: str, node: str, now: float) -> ClusterKey:
        """Make ``public_key`` the cluster's unless it has one; return the cluster's."""
        ...


async def cluster_signing_key(
    registry: KeyRegistry, keys_dir: Path, node: str, now: float | None = None
) -> SigningKey:
    """This relay's signing key (from ``keys_dir``) once the database agrees it is the
    cluster's; generated only when neither this relay nor the cluster has one.

    Raises :class:`ForeignKeyError` when it is not the cluster's (or this
    relay has none and the cluster has one), :class:`relay.trust.keys.KeyFileError`
    for a key file others may read, :class:`relay.store.StoreError` when the
    database fails.
    """
    had_key = (keys_dir / KEY_FILE).exists()
    registered = await registry.cluster_key()
    if not had_key and registered is not None:
        raise ForeignKeyError(mismatch(keys_dir, None, registered, registry.where))
    signing = SigningKey.load_or_create(keys_dir)
    try:
        await agree(registry, signing, node, keys_dir, now)
    except ForeignKeyError as exc:
        if had_key:
            raise
        # another relay registered its own key at the same moment: leave keys/ empty
        _remove_generated(keys_dir)
        registered = await registry.cluster_key()
        if registered is None:  # pragma: no cover - a key once registered stays
            raise
        raise ForeignKeyError(mismatch(keys_dir, None, registered, registry.where)) from exc
    except BaseException:
        if not had_key:  # not registered (the database failed): leave keys/ as it was
            _remove_generated(keys_dir)
        raise
    return signing


async def agree(
    registry: KeyRegistry,
    signing: SigningKey,
    node: str,
    keys_dir: Path,
    now: float | None = None,
) -> None:
    """Register ``signing`` as the cluster's key unless one is; raise
    :class:`ForeignKeyError` if the cluster's is another (``keys_dir`` is named
    in the message, as the place to copy the cluster's key to)."""
    public = signing.public.text()
    registered = await registry.register_key(public, node, time.time() if now is None else now)
    if registered.public_key != public:
        raise ForeignKeyError(mismatch(keys_dir, public, registered, registry.where))


def _remove_generated(keys_dir: Path) -> None:
    for name in (KEY_FILE, PUBLIC_KEY_FILE):
        (keys_dir / name).unlink(missing_ok=True)
