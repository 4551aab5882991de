"""The TUI on a relay that is not the session's home, when the home dies: it says the
session is over and why, and stops reconnecting.

Real parts: two ``warroom relay`` processes (:mod:`tests.cluster`) on PostgreSQL and
Redis, a real sshd as the target, the TUI under Textual's pilot; the home is SIGKILLed.
"""

from __future__ import annotations

from pathlib import Path

from relay.trust.identity import parse_join_target
from tests.cluster import running_cluster
from tests.sshd import SshdServer
from tests.tui.test_tui_helpers import PilotApp, screen_of, until
from tests.tui.test_tui_shown import SIZE, drawn
from tui.login import Connector
from tui.room import Link


async def test_a_tui_on_an_edge_shows_that_the_session_ended_with_its_relay(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    async with running_cluster(
        tmp_path, 2, database=postgres_dsn, sshd=sshd, redis=redis_url
    ) as cluster:
        alice = await cluster.login(1, "alice")
        session = await alice.open("sshd", "INC-31: the home dies")
        await alice.join(session)
        key_path = tmp_path / "id_bob"
        cluster.user_keys["bob"].write_private_key(str(key_path))
        connector = Connector(parse_join_target(cluster[2].url), user="bob", key=key_path)
        app = PilotApp(connector, session)  # bob, on relay 2: an edge of the session
        app.first_client = await app.connector()
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: screen_of(app).room.you is not None, what="bob in")

            cluster[1].kill()
            reason = "its relay (relay-1) is gone: the session's shell ran there"
            await until(
                pilot, lambda: screen_of(app).room.ended_reason == reason, 60, what="the end"
            )
            await until(pilot, lambda: f"Session over: {reason}." in drawn(app), what="banner")
            assert app.notified(reason, title="Session over")
            assert screen_of(app).room.link is Link.ENDED  # no reconnecting to a dead session
