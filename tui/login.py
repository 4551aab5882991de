"""Getting an authenticated connection: invite, stored token, or SSH key.

``warroom join`` and ``warroom login`` share this so that every path ends the
same way: a :class:`RelayClient` past ``auth``, and the relay's short-lived
token kept for the next connection (see :mod:`tui.credentials`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path

import asyncssh

from relay.core import messages
from relay.core.errors import ErrorCode
from relay.trust.identity import JoinTarget, parse_join_target
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
) -> messages.Authenticated:
    """Authenticate with the best credential at hand, most specific first."""
    if target.invite is not None:
        return await client.auth_invite(target.invite, name)
    token = token or load_token(target.url)
    refused: RelayError | None = None
    if token is not None and key is None:
        try:
            return await client.auth_token(token)
        except RelayError as exc:
            refused = exc  # expired, revoked...: say so if there is nothing else to try
            await client.close()
            await client.connect()  # a refused token closes the connection: start afresh
    if not user:
        if refused is not None:
            raise RelayError(
                ErrorCode.AUTH_FAILED,
                f"your stored login was refused ({refused.message}); "
                "pass --user (and --key) to log in again",
            )
        raise RelayError(
            ErrorCode.AUTH_FAILED, "no stored login; pass --user (and --key) to log in"
        )
    if key is not None:
        return await client.auth_ssh_key(user, asyncssh.read_private_key(str(key)))
    return await client.auth_ssh_agent(user)


def keep_token(url: str, token: str, insecure_storage: bool = False) -> str:
    """Store the token; return where it went, or why it could not be kept, as a clause."""
    try:
        path = store_token(url, token, insecure_storage)
    except NoKeyring as exc:
        return f"but {exc}"
    if path is None:
        return "the token is in the OS keyring"
    return f"the token is in {path} (plain text, readable only by you)"


async def login(
    url: str,
    user: str,
    key: Path | None,
    ca_cert: Path | None = None,
    insecure_storage: bool = False,
) -> str:
    """``warroom login``: sign the challenge, keep the token, return it."""
    target = parse_join_target(url)
    client = RelayClient(target.url, ca_cert=ca_cert)
    await client.connect()
    try:
        who = await authenticate(client, target, user=user, key=key)
    finally:
        await client.close()
    token = str(who["token"])
    kept = keep_token(target.url, token, insecure_storage)
    print(f"logged in to {target.url} as {who['user']} ({who['role']}); {kept}", file=sys.stderr)
    return token


class Connector:
    """Opens an authenticated connection: first with the join credential, then the token.

    The relay answers every authentication with a short-lived token; reconnects
    use it, so an invite link is only spent once.
    """

    def __init__(
        self,
        target: JoinTarget,
        *,
        name: str | None = None,
        user: str = "",
        key: Path | None = None,
        ca_cert: Path | None = None,
    ) -> None:
        self.target = target
        self.name = name
        self.user = user
        self.key = key
        self.ca_cert = ca_cert
        self.token: str | None = None
        self.identity: Mapping[str, object] = {}  # the relay's authenticated, once signed in

    async def __call__(self) -> RelayClient:
        client = RelayClient(self.target.url, ca_cert=self.ca_cert)
        await client.connect()
        try:
            if self.token is not None:
                who = await client.auth_token(self.token)
            else:
                who = await authenticate(
                    client, self.target, name=self.name, user=self.user, key=self.key
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await client.close()
            raise
        self.token = who["token"]
        self.identity = who
        return client
