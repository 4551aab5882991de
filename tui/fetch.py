"""Fetching a session's recording from a relay, for ``warroom replay <relay-url> <session>``.

The relay answers ``fetch_recording`` one chunk at a time (see
:mod:`relay.net.archive`); this module pulls chunks until ``eof``, writes them
to ``<name>.part`` and renames the file when complete, so a half-downloaded
recording is never mistaken for one that ends without a seal.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

from relay.core import messages, protocol
from relay.core.errors import ErrorCode
from relay.trust.identity import parse_join_target
from tui.client import RelayClient, RelayError
from tui.login import authenticate


def default_directory() -> Path:
    """Where fetched recordings go unless ``--save-to`` says otherwise."""
    import platformdirs

    return platformdirs.user_cache_path("warroom") / "recordings"


async def list_recordings(client: RelayClient, session: str | None) -> list[dict[str, Any]]:
    message: protocol.ListRecordings = {"type": "list_recordings"}
    if session is not None:
        message["session"] = session
    await client.send(message)
    answer = await client.expect(messages.Recordings)
    return list(answer["recordings"])


async def download(client: RelayClient, name: str, target: Path) -> Path:
    """Pull ``name`` chunk by chunk into ``target`` (via ``target.part``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    offset = 0
    with partial.open("wb") as out:
        while True:
            await client.send({"type": "fetch_recording", "name": name, "offset": offset})
            chunk = await client.expect(messages.RecordingChunk)
            data = base64.b64decode(chunk["data"])
            out.write(data)
            offset += len(data)
            if chunk["eof"] or not data:
                break
    os.replace(partial, target)
    return target


async def fetch_newest(
    client: RelayClient, session: str, directory: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Download the newest recording of ``session``; its local path and listing entry."""
    recordings = await list_recordings(client, session)
    if not recordings:
        raise RelayError(ErrorCode.NO_SUCH_RECORDING, f"the relay has no recording of {session!r}")
    newest = recordings[0]
    path = await download(
        client, newest["name"], (directory or default_directory()) / newest["name"]
    )
    state = "sealed" if newest.get("sealed") else "not sealed yet (live or interrupted)"
    print(f"fetched {path} ({newest['size']} bytes, {state})", file=sys.stderr)
    return path, newest


async def fetch_session_recording(
    url: str,
    session: str | None,
    *,
    user: str = "",
    key: Path | None = None,
    directory: Path | None = None,
    ca_cert: Path | None = None,
) -> Path:
    """Log in, find the session's newest recording, download it; return the local path.

    Without ``session``, the one a session-bound credential (an invite) is for.
    """
    target = parse_join_target(url)
    client = RelayClient(target.url, ca_cert=ca_cert)
    await client.connect()
    try:
        who = await authenticate(client, target, user=user, key=key)
        session = session or target.session or _bound(who)
        if session is None:
            raise RelayError(
                "no_session", "say which session to replay (warroom replay URL SESSION)"
            )
        path, _ = await fetch_newest(client, session, directory)
    finally:
        await client.close()
    return path


def _bound(who: messages.Authenticated) -> str | None:
    return who["session"] or None
