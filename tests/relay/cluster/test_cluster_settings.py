"""One [redaction] and one output ring for the cluster: registered in PostgreSQL by the
first relay, and a relay whose settings differ does not start.

Real parts: PostgreSQL, real ``warroom relay`` processes (:mod:`tests.cluster`),
a real sshd as the target.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from relay.cluster.settings import agree_settings, fingerprint, shared_settings
from relay.config import ClusterConfig, Limits, RedactionConfig, RelayConfig
from relay.evidence.audit import read_events
from relay.masking import SecretPattern
from relay.store.postgres import PostgresStore
from tests.cluster import prepare
from tests.harness import read_until, running_relay
from tests.sshd import SshdServer

INTERNAL = """
[[redaction.patterns]]
name = "internal-token"
regex = "itk_[0-9a-f]{32}"
"""


async def test_of_relays_starting_together_one_relays_settings_win_and_all_see_them(
    postgres_dsn: str, tmp_path: Path
) -> None:
    configs = [
        RelayConfig(
            data_dir=tmp_path,
            cluster=ClusterConfig(database=postgres_dsn, node=f"relay-{n}"),
            limits=Limits(output_buffer=(n + 1) << 20),
        )
        for n in range(5)
    ]
    stores = [await PostgresStore.open(postgres_dsn) for _ in configs]
    try:
        outcomes = await asyncio.gather(
            *(agree_settings(s, c) for s, c in zip(stores, configs, strict=True)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1  # one relay's settings are the cluster's, the others refused
        won = outcomes.index(winners[0])
        assert winners[0] == fingerprint(shared_settings(configs[won]))
        for n, outcome in enumerate(outcomes):
            if n != won:
                assert isinstance(outcome, Exception)
                assert str(outcome).startswith(
                    "this relay's settings differ from the cluster's, registered by node "
                    f"'relay-{won}' in the state database postgresql://"
                )
                assert (
                    f"[limits] output_buffer: {(n + 1) << 20} here, {(won + 1) << 20} in the "
                    "cluster" in str(outcome)
                )
        again = replace(configs[won], cluster=ClusterConfig(database=postgres_dsn, node="relay-9"))
        # the same settings, on another node
        assert await agree_settings(stores[0], again) == winners[0]
    finally:
        for store in stores:
            await store.close()


def test_the_fingerprint_covers_each_shared_setting_and_nothing_else(tmp_path: Path) -> None:
    base = RelayConfig(data_dir=tmp_path)
    redaction = base.redaction
    extra = SecretPattern("internal-token", "itk_[0-9a-f]{32}")
    changed = [
        replace(base, redaction=replace(redaction, enabled=False)),
        replace(base, redaction=replace(redaction, driver_sees_raw=False)),
        replace(base, redaction=replace(redaction, patterns=(*redaction.patterns, extra))),
        replace(base, redaction=replace(redaction, patterns=redaction.patterns[1:])),
        replace(base, limits=Limits(output_buffer=1 << 20)),
    ]
    prints = {fingerprint(shared_settings(c)) for c in [base, *changed]}
    assert len(prints) == len(changed) + 1
    same = [  # a relay's own place in the cluster, and limits the home alone enforces
        replace(base, cluster=ClusterConfig(node="relay-2"), listen_port=9999, name="other"),
        replace(base, limits=Limits(chat_rate=1, max_input=100)),
        replace(base, redaction=RedactionConfig()),
    ]
    for config in same:
        assert fingerprint(shared_settings(config)) == fingerprint(shared_settings(base))


async def test_a_relay_with_other_redaction_settings_does_not_start_and_others_go_on(
    tmp_path: Path, postgres_dsn: str, sshd: SshdServer
) -> None:
    cluster = prepare(tmp_path, 3, database=postgres_dsn, sshd=sshd, extra=INTERNAL)
    one, two, three = cluster.relays
    try:
        await one.start()  # the first relay: its settings become the cluster's
        lead = await cluster.login(1, "alice")
        session = await lead.open("sshd", "INC-11: settings")
        await lead.join(session)

        toml = two.config_path.read_text()
        two.config_path.write_text(  # another operator forgot the pattern, and raw output
            toml.replace(INTERNAL, "") + "\n[redaction]\ndriver_sees_raw = false\n"
        )
        code, said = await two.exit_status()
        assert code == 2, said
        first = said.strip().splitlines()[0]
        assert first.startswith(
            "warroom: this relay's settings differ from the cluster's, registered by node "
            "'relay-1' in the state database postgresql://warroom@127.0.0.1:"
        ), said
        assert (
            ": [redaction] driver_sees_raw: false here, true in the cluster; "
            "[redaction] patterns: only in the cluster: internal-token. Every relay of a "
            "cluster must mask alike" in first
        ), said
        assert first.endswith(
            "make [redaction] and [limits] output_buffer the same in every relay.toml, then "
            "start again (to change them for the whole cluster: stop every relay, change "
            "every relay.toml, DELETE FROM cluster_settings, start them)"
        ), said
        assert not (two.data_dir / "audit").exists()  # it never served: nothing audited

        three.config_path.write_text(
            three.config_path.read_text() + "\n[limits]\noutput_buffer = 1048576\n"
        )
        code, said = await three.exit_status()
        assert code == 2 and "[limits] output_buffer: 1048576 here, 8388608 in the" in said, said

        await lead.send_input(b"echo STILL-$((40+2))\r")  # the cluster's relay goes on
        await read_until(lead, b"STILL-42")

        two.config_path.write_text(toml)  # what the message says to do
        await two.start()
        viewer = await cluster.login(2, "bob")
        assert (await viewer.list_sessions())["sessions"] is not None
    finally:
        await cluster.close_clients()
        for relay in cluster.relays:
            await relay.stop()
            relay.kill()


async def test_a_reload_keeps_the_shared_settings_of_a_relay_in_a_cluster(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """SIGHUP applies users and limits at once, but the cluster's settings only at a
    restart (where they are checked): the audit entry says so."""
    async with running_relay(tmp_path, cluster=ClusterConfig(database=postgres_dsn)) as h:
        old = h.relay.config
        fresh = replace(
            old,
            redaction=replace(old.redaction, driver_sees_raw=False),
            limits=replace(old.limits, output_buffer=1 << 20, chat_rate=1),
        )
        await h.relay.reload(fresh)
        config = h.relay.config
        assert config.redaction == old.redaction
        assert config.limits == replace(old.limits, chat_rate=1)  # the rest applies
        h.relay.audit.tick()
    reloads = [e for e in read_events(h.data_dir / "audit") if e["event"] == "config.reload"]
    assert reloads[-1]["needs_restart"] == "redaction, limits.output_buffer"
