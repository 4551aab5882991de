"""Getting an authenticated connection: invite, stored token, or SSH key.

``warroom join`` and ``warroom login`` share this so that every path ends the
same way: a :class:`RelayClient` past ``auth``, and the relay's short-lived
token kept for the next connection (see :mod:`tui.credentials`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import asyncssh

from relay.identity import JoinTarget, parse_join_target
from tui.client import RelayClient, RelayError
from tui.credentials import NoKeyring, load_token, store_token


async def authenticate(
    client: RelayClient,
    target: JoinTarget,
    *,
    name: str | None = None,
    user: str = "",
    key: Path | None = None,
    token: str | None = None,
) -> dict[str, object]:
    """Authenticate with the best credential at hand, most specific first."""
    if target.invite is not None:
        return await client.auth_invite(target.invite, name)
    token = token or load_token(target.url)
    if token is not None and key is None:
        try:
            return await client.auth_token(token)
        except RelayError:
            await client.close()
            await client.connect()  # an expired token closes the connection: start afresh
    if not user:
        raise RelayError("auth_failed", "no stored login; pass --user (and --key) to log in")
    if key is not None:
        return await client.auth_ssh_key(user, asyncssh.read_private_key(str(key)))
    return await client.auth_ssh_agent(user)


def keep_token(url: str, token: str) -> None:
    """Store the token; say clearly what happens when no keyring exists."""
    try:
        store_token(url, token)
    except NoKeyring as exc:
        print(f"warroom: {exc}", file=sys.stderr)


async def login(url: str, user: str, key: Path | None, ca_cert: Path | None = None) -> str:
    """``warroom login``: sign the challenge, keep the token, return it."""
    target = parse_join_target(url)
    client = RelayClient(target.url, ca_cert=ca_cert)
    await client.connect()
    try:
        who = await authenticate(client, target, user=user, key=key)
    finally:
        await client.close()
    token = str(who["token"])
    keep_token(target.url, token)
    print(f"logged in to {target.url} as {who['user']} ({who['role']})", file=sys.stderr)
    return token
