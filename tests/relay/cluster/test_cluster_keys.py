"""One signing key for the cluster: registered in PostgreSQL (its public half only),
checked by every relay at start; tokens of one relay hold on all.

The store-level tests race real connections on a real PostgreSQL; the relay
tests run real ``warroom relay`` processes (:mod:`tests.cluster`) against a
real sshd.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import psycopg
import pytest

from relay.cluster.signing import ForeignKeyError, cluster_signing_key
from relay.core.roles import Role
from relay.store.postgres import PostgresStore
from relay.trust.identity import Claims, encode
from relay.trust.keys import KEY_FILE, PUBLIC_KEY_FILE, SigningKey
from tests.cluster import copy_keys, install_key, prepare
from tests.sshd import SshdServer
from tui.client import RelayError

# ---------------------------------------------------------------- the database's part


async def test_of_relays_registering_together_one_key_wins_and_all_see_it(
    postgres_dsn: str,
) -> None:
    stores = [await PostgresStore.open(postgres_dsn) for _ in range(6)]
    try:
        keys = [SigningKey.generate().public.text() for _ in stores]
        seen = await asyncio.gather(
            *(
                store.register_key(key, f"relay-{n}", 1000.0 + n)
                for n, (store, key) in enumerate(zip(stores, keys, strict=True))
            )
        )
        assert len({s.public_key for s in seen}) == 1  # one winner ...
        winner = seen[0]
        assert winner.public_key in keys  # ... among the contenders
        assert winner.node == f"relay-{keys.index(winner.public_key)}"
        assert await stores[0].cluster_key() == winner
        again = await stores[1].register_key(SigningKey.generate().public.text(), "late", 2000.0)
        assert again == winner  # a key once registered stays the cluster's
    finally:
        for store in stores:
            await store.close()


async def test_the_database_holds_no_private_key(postgres_dsn: str, tmp_path: Path) -> None:
    """Whoever reads every table gets the public key, nothing to sign with."""
    store = await PostgresStore.open(postgres_dsn, node="relay-1")
    try:
        signing = await cluster_signing_key(store, tmp_path / "keys", "relay-1")
    finally:
        await store.close()
    private = (tmp_path / "keys" / KEY_FILE).read_bytes()
    secret = private.split(b"-----")[2].strip()  # the PEM's base64 body
    with psycopg.connect(postgres_dsn) as conn:
        listed = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in listed]
        dump = "".join(
            str(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"')
        )
    assert signing.public.text() in dump
    assert secret.decode() not in dump
    raw = signing.key.private_bytes_raw()
    assert base64.b64encode(raw).decode() not in dump and raw.hex() not in dump


async def test_a_relay_takes_the_clusters_key_or_says_what_to_copy(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Each row of relay/cluster/signing.py's table, on a real database."""
    store = await PostgresStore.open(postgres_dsn)
    first, second, third = (tmp_path / n / "keys" for n in ("a", "b", "c"))
    try:
        # no key anywhere: generated, registered
        signing = await cluster_signing_key(store, first, "relay-1", now=1000.0)
        assert (first / KEY_FILE).stat().st_mode & 0o777 == 0o600
        registered = await store.cluster_key()
        assert registered is not None and registered.public_key == signing.public.text()
        assert (registered.node, registered.added_at) == ("relay-1", 1000.0)

        # the same key elsewhere: accepted
        copy_keys(first, second)
        assert (await cluster_signing_key(store, second, "relay-2")).public == signing.public

        # no key while the cluster has one: refused, and nothing generated
        with pytest.raises(ForeignKeyError) as none:
            await cluster_signing_key(store, third, "relay-3")
        assert not (third / KEY_FILE).exists()
        assert str(none.value).startswith(
            f"this relay has no signing key in {third}, and the cluster's key in "
            f"{store.where} is {signing.public.text()} (registered by node 'relay-1'): "
            "every relay of a cluster signs with one key; copy relay_ed25519 and "
            "relay_ed25519.pub from the keys directory of relay node 'relay-1'"
        )

        # another key: refused, the key left as it was
        foreign = SigningKey.generate()
        install_key(foreign, third)
        with pytest.raises(ForeignKeyError) as other:
            await cluster_signing_key(store, third, "relay-3")
        assert str(other.value).startswith(
            f"this relay's signing key {foreign.public.text()} (in {third}) is not the "
            f"cluster's: the state database {store.where} names {signing.public.text()}"
        )
        assert (third / PUBLIC_KEY_FILE).read_text().strip() == foreign.public.text()
    finally:
        await store.close()


async def test_a_key_generated_for_a_registration_it_lost_is_removed(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Two fresh relays on a fresh database: the loser is refused and its keys/ left empty."""
    stores = [await PostgresStore.open(postgres_dsn) for _ in range(2)]
    dirs = [tmp_path / "one" / "keys", tmp_path / "two" / "keys"]
    try:
        results = await asyncio.gather(
            *(
                cluster_signing_key(store, keys, f"relay-{n}")
                for n, (store, keys) in enumerate(zip(stores, dirs, strict=True))
            ),
            return_exceptions=True,
        )
    finally:
        for store in stores:
            await store.close()
    won = [r for r in results if isinstance(r, SigningKey)]
    assert len(won) >= 1
    registered = won[0].public.text()
    for keys, result in zip(dirs, results, strict=True):
        if isinstance(result, SigningKey):
            assert result.public.text() == registered
            assert (keys / PUBLIC_KEY_FILE).read_text().strip() == registered
        else:
            assert isinstance(result, ForeignKeyError), result
            assert str(result).startswith("this relay has no signing key")
            assert not (keys / KEY_FILE).exists() and not (keys / PUBLIC_KEY_FILE).exists()


# ---------------------------------------------------------------- real relays


def forged(token: str, key: SigningKey) -> str:
    """``token``'s very claims (a real, unrevoked token id) signed by ``key``."""
    body = token.split(".")[1]
    fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    fields["role"] = Role(fields["role"])
    fields.setdefault("inv", None)
    fields.setdefault("by", None)
    return encode(key, Claims(**fields))


async def test_a_token_of_one_relay_joins_through_another_and_a_foreign_key_is_refused(
    tmp_path: Path, postgres_dsn: str, sshd: SshdServer
) -> None:
    cluster = prepare(tmp_path, 3, database=postgres_dsn, sshd=sshd, keys=[False, False, False])
    one, two, three = cluster.relays
    try:
        await one.start()  # the first relay of a new cluster makes the key
        assert (one.keys_dir / KEY_FILE).exists()

        code, said = await two.exit_status()  # started without the key: refused, says why
        cluster_key = (one.keys_dir / PUBLIC_KEY_FILE).read_text().strip()
        assert code == 2, said
        assert said.startswith(
            f"warroom: this relay has no signing key in {two.keys_dir}, and the cluster's key "
            f"in postgresql://warroom@127.0.0.1:"
        ), said
        assert f"is {cluster_key} (registered by node 'relay-1')" in said
        assert not (two.keys_dir / KEY_FILE).exists()  # nothing generated
        assert not (two.data_dir / "audit").exists()  # a relay that never served audits nothing

        foreign = SigningKey.generate()
        install_key(foreign, three.keys_dir)
        code, said = await three.exit_status()
        assert code == 2 and said.startswith(
            f"warroom: this relay's signing key {foreign.public.text()} (in {three.keys_dir}) "
            "is not the cluster's"
        ), said

        copy_keys(one.keys_dir, two.keys_dir)  # what the message says to do
        await two.start()

        lead = await cluster.login(2, "alice")
        session = await lead.open("sshd", "INC-7: one key set")
        await lead.join(session)
        bob_on_one = await cluster.login(1, "bob")
        token = bob_on_one.identity["token"]

        bob_on_two = await cluster.client(2)  # relay 1's token, relay 2's session
        assert (await bob_on_two.auth_token(token))["user"] == "bob"
        welcome = await bob_on_two.join(session)
        assert welcome["role"] == "viewer"

        stranger = await cluster.client(2)  # the same claims, signed by another key
        with pytest.raises(RelayError) as refused:
            await stranger.auth_token(forged(token, foreign))
        assert (refused.value.code, refused.value.message) == (
            "auth_failed",
            "your login token was not issued by this relay (another relay, or its key "
            "changed); sign in again with `warroom join`",
        )
        await bob_on_two.send({"type": "chat", "text": "still here"})  # others unaffected
        assert (await bob_on_two.expect("chat"))["text"] == "still here"
    finally:
        await cluster.close_clients()
        for relay in cluster.relays:
            await relay.stop()
            relay.kill()


async def test_a_revoke_through_one_relay_ends_the_users_connection_on_another(
    tmp_path: Path, postgres_dsn: str, sshd: SshdServer
) -> None:
    """bob signs in on relay 1; a lead on relay 2 revokes him: relay 1 cuts him off,
    and his token is refused on both."""
    cluster = prepare(tmp_path, 2, database=postgres_dsn, sshd=sshd)
    try:
        await asyncio.gather(*(relay.start() for relay in cluster.relays))
        lead = await cluster.login(1, "alice")
        session = await lead.open("sshd", "INC-8: revocation")
        await lead.join(session)
        bob = await cluster.joined(1, "bob", session)
        token = bob.identity["token"]

        admin = await cluster.login(2, "lena")
        await admin.send({"type": "access_revoke", "user": "bob"})
        assert (await admin.expect("access_revoked"))["tokens"] == 1

        with pytest.raises(RelayError) as gone:
            await bob.expect("never", timeout=30)
        assert (gone.value.code, gone.value.message) == (
            "auth_failed",
            "your access was revoked by lena; sign in again with `warroom login` if you still may",
        )
        for number in (1, 2):
            again = await cluster.client(number)
            with pytest.raises(RelayError) as refused:
                await again.auth_token(token)
            assert refused.value.code == "auth_failed"
    finally:
        await cluster.close_clients()
        for relay in cluster.relays:
            await relay.stop()
            relay.kill()
