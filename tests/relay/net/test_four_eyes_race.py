"""Four-eyes at the instant of a keystroke, over real sockets.

With ``four_eyes = 1`` and one watcher, the watcher goes — its TCP connection
shut down, or its close frame sent — and the driver's keystroke is written
in the same turn of the event loop, before the relay can run: both are in
the relay's socket buffers when it next looks. The rule must hold at the
moment the keystroke is forwarded, so the keystroke is refused with
``paused`` and never reaches the shell, whose every received byte is kept
(``tests.harness.sink_shell``). Each round first checks that the same
driver's keys do get through while the watcher reads, so a refusal is the
rule's doing and not a broken setup.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tests.harness import Harness, running_relay, sink_shell, until_sunk
from tests.relay.net.test_abuse import masked_frame
from tui.client import Event, RelayClient, RelayError

ROUNDS = 3
CLOSE_NORMAL = (1000).to_bytes(2, "big")


async def joined_on_own_socket(
    h: Harness, session: str, user: str
) -> tuple[RelayClient, socket.socket]:
    """A client whose socket the test holds, to write to it or shut it down at will."""
    sock = socket.socket()
    sock.connect(("127.0.0.1", h.relay.port))
    sock.setblocking(False)
    client = RelayClient(h.url, sock=sock)
    h.clients.append(client)
    await client.connect()
    await client.auth_ssh_key(user, h.user_keys[user])
    await client.join(session)
    return client, sock


def paused(state: bool) -> object:
    def check(event: Event) -> bool:
        return (
            isinstance(event, dict)
            and event.get("type") == "roster"
            and (event["paused"] is not None) == state
        )

    return check


@pytest.mark.parametrize("how", ["tcp_shutdown", "close_frame"])
async def test_a_keystroke_sent_as_the_only_watcher_goes_never_reaches_the_shell(
    tmp_path: Path, how: str
) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    async with running_relay(tmp_path, shell=sink_shell(sink), four_eyes=1) as h:
        session = await h.open()
        driver, driver_sock = await joined_on_own_socket(h, session, "alice")
        for n in range(ROUNDS):
            watcher, watcher_sock = await joined_on_own_socket(h, session, "bob")
            await driver.wait_for(paused(False))
            await driver.send_input(f"<<watched-{n}>>".encode())
            await until_sunk(sink, f"<<watched-{n}>>".encode())  # bob reads: keys go through

            keystroke = masked_frame(0x2, b"i" + f"<<raced-{n}>>".encode())
            if how == "tcp_shutdown":
                watcher_sock.shutdown(socket.SHUT_RDWR)
            else:
                watcher_sock.send(masked_frame(0x8, CLOSE_NORMAL))
            driver_sock.send(keystroke)  # same turn: the relay has not run in between

            with pytest.raises(RelayError) as refused:
                await driver.expect("never")
            # (stale_input: the relay itself stalled for seconds, as a loaded machine can make
            # it; the key is refused too, by another rule)
            assert refused.value.code in ("paused", "stale_input"), refused.value
            await driver.wait_for(paused(True))
            assert watcher.ws is not None
            await asyncio.wait_for(watcher.ws.wait_closed(), 10)

        await joined_on_own_socket(h, session, "carol")  # another person: input flows again
        await driver.wait_for(paused(False))
        await driver.send_input(b"<<end>>")
        received = await until_sunk(sink, b"<<end>>")
        for n in range(ROUNDS):
            assert f"<<watched-{n}>>".encode() in received
            assert f"<<raced-{n}>>".encode() not in received, f"round {n}: a raced key got through"
