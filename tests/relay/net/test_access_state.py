"""Access that holds under attack and across restarts, over real websockets.

Each test attacks the relay as a client would — a stale token, a revoked
guest's saved credentials, a used-up invite, a token from another relay —
and checks the exact refusal and that the other participants are unaffected.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.core.roles import Role
from relay.evidence.audit import read_events
from relay.trust import identity
from tests.harness import Harness, read_until, running_relay
from tests.tools import stop
from tui.client import RelayClient, RelayError

WARROOM = [sys.executable, "-m", "tui.cli"]


def events(h: Harness, name: str) -> list[dict[str, Any]]:
    return [e for e in read_events(h.data_dir / "audit") if e["event"] == name]


async def refused(h: Harness, *, token: str = "", invite: str = "", name: str = "") -> RelayError:
    """Authenticate with ``token`` or ``invite`` on a fresh connection, expecting a refusal."""
    client = await h.client()
    with pytest.raises(RelayError) as info:
        if invite:
            await client.auth_invite(invite, name or None)
        else:
            await client.auth_token(token)
    assert info.value.code == "auth_failed"
    return info.value


async def cut_off(client: RelayClient) -> RelayError:
    """Wait for the relay to end ``client``'s connection with an error; return it."""
    with pytest.raises(RelayError) as info:
        await client.expect("never", timeout=10)
    return info.value


async def guest(h: Harness, url: str, name: str) -> tuple[RelayClient, dict[str, Any]]:
    """A guest who comes in with the invite link ``url``."""
    client = await h.client()
    who = await client.auth_invite(identity.parse_join_target(url).invite or "", name)
    return client, who


async def make_invite(lead: RelayClient, session: str, **extra: Any) -> dict[str, Any]:
    await lead.send({"type": "invite", "role": "viewer", "session": session, "ttl": 600, **extra})
    return await lead.expect("invite")


async def still_works(lead: RelayClient, viewer: RelayClient, word: str) -> None:
    """The lead still drives and a viewer still sees it: nobody else was touched."""
    await lead.send_input(f"echo {word}-$((40+2))\r".encode())
    await read_until(viewer, f"{word}-42".encode())


# ---------------------------------------------------------------- state across restarts


async def test_every_kind_of_state_survives_a_restart(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as h:
        keys = h.user_keys
        lead = await h.login("alice")
        alice_token = lead.identity["token"]
        ended = await h.open()
        await lead.join(ended)
        await lead.send({"type": "end", "reason": "INC-7 resolved"})
        await lead.expect("ended")
        left_open = await h.open()
        lead = await h.login("alice")
        # a grant (scoped to a target: sessions do not outlive the relay, targets do)
        await lead.send(
            {"type": "access_grant", "user": "rita", "role": "viewer", "ttl": 600,
             "target": "sandbox", "reason": "INC-8"}
        )  # fmt: skip
        grant = (await lead.expect("access_granted"))["grant"]
        # a pending request
        carol = await h.login("carol")
        await carol.send({"type": "access_request", "role": "driver", "reason": "INC-9"})
        request = (await carol.expect("access_requested"))["request"]
        # an invite with two uses, used once
        counted, counted_url = await h.relay.create_invite(
            Role.VIEWER, None, 600, "ops", by="alice", uses=2
        )
        await guest(h, counted_url, "first")
        # a revoked guest, and a revoked config user who is offline
        dave_url = await h.relay.invite(Role.VIEWER, left_open, 600, "dave")
        _dave, dave = await guest(h, dave_url, "dave")
        await lead.send({"type": "access_revoke", "user": "guest:dave"})
        await lead.expect("access_revoked")
        bob_token = (await h.login("bob")).identity["token"]
        await lead.send({"type": "access_revoke", "user": "bob"})
        await lead.expect("access_revoked")

    async with running_relay(tmp_path, user_keys=keys) as h:
        lead = await h.client()
        assert (await lead.auth_token(alice_token))["user"] == "alice"  # tokens are on record
        # the revoked stay revoked
        assert "revoked by alice" in (await refused(h, token=dave["token"])).message
        assert "revoked by alice" in (await refused(h, token=bob_token)).message
        assert "has ended" in (await refused(h, invite=_invite_of(dave_url))).message
        # the grant still holds until its expiry
        rita = await h.login("rita")
        await rita.send({"type": "access_list"})
        assert [g["id"] for g in (await rita.expect("access"))["grants"]] == [grant["id"]]
        fresh = await h.open()
        assert (await rita.join(fresh))["role"] == "viewer"  # a reviewer, watching by grant
        # the pending request still waits, and cannot be made twice
        await lead.send({"type": "access_list"})
        listing = await lead.expect("access")
        assert [r["id"] for r in listing["requests"]] == [request["id"]]
        carol = await h.login("carol")
        await carol.send({"type": "access_request", "role": "driver", "reason": "again"})
        with pytest.raises(RelayError, match="already asked"):
            await carol.expect("access_requested")
        # invite uses persist: one use left of two
        assert [i["uses"] for i in listing["invites"] if i["id"] == counted.id] == [1]
        await guest(h, counted_url, "second")
        assert "used up" in (await refused(h, invite=_invite_of(counted_url))).message
        # ended sessions answer session_ended, whether a lead ended them or the relay stopped
        for session, why in [(ended, "INC-7 resolved"), (left_open, "shutting down")]:
            with pytest.raises(RelayError) as info:
                await lead.join(session)
            assert info.value.code == "session_ended" and why in info.value.message
        await lead.send({"type": "join", "session": "never-was"})
        with pytest.raises(RelayError, match="no_such_session"):
            await lead.expect("welcome_session")


def _invite_of(url: str) -> str:
    return identity.parse_join_target(url).invite or ""


async def test_a_session_open_when_the_relay_died_answers_session_ended_after(
    tmp_path: Path,
) -> None:
    """A crash leaves the session open in the directory; the next start ends it, audited."""
    from relay.store import SessionRecord
    from relay.store.sqlite import FILE_NAME, SqliteStore

    store = await SqliteStore.open(tmp_path / "data" / FILE_NAME)
    await store.add_session(
        SessionRecord("sandbox-dead01", "sandbox", "alice", "x", "warroom", 1.0)
    )
    await store.add_session(SessionRecord("other-home01", "sandbox", "alice", "x", "relay-2", 1.0))
    await store.close()
    async with running_relay(tmp_path) as h:
        lead = await h.login("alice")
        with pytest.raises(RelayError) as info:
            await lead.join("sandbox-dead01")
        assert info.value.code == "session_ended"
        assert info.value.message == (
            "the session 'sandbox-dead01' has ended: the relay stopped before the session ended"
        )
        closed = events(h, "session.close")
        assert [e["session"] for e in closed] == ["sandbox-dead01"]  # not another relay's
        record = await h.relay.store.session("other-home01")
        assert record is not None and record.ended_at is None


# ---------------------------------------------------------------- stale privileges


async def test_a_removed_user_and_a_demoted_lead_are_refused_after_a_restart(
    tmp_path: Path,
) -> None:
    roles = {"alice": Role.LEAD, "carol": Role.LEAD, "bob": Role.VIEWER}
    async with running_relay(tmp_path, users=roles) as h:
        keys = h.user_keys
        tokens = {user: (await h.login(user)).identity["token"] for user in roles}
    # relay.toml edited: bob removed, carol a viewer now
    async with running_relay(
        tmp_path, users={"alice": Role.LEAD, "carol": Role.VIEWER}, user_keys=keys
    ) as h:
        bob = await refused(h, token=tokens["bob"])
        assert bob.message == "the user 'bob' is no longer on this relay"
        carol = await refused(h, token=tokens["carol"])
        assert carol.message == (
            "carol no longer holds the lead role on this relay (now: viewer); "
            "sign in again with `warroom login`"
        )
        codes = {e["user"]: e["code"] for e in events(h, "auth.failed")}
        assert codes == {"bob": "unknown_user", "carol": "role_changed"}
        # everyone else is unaffected: alice's old token still opens sessions as lead
        alice = await h.client()
        assert (await alice.auth_token(tokens["alice"]))["role"] == "lead"
        session = await alice.open("sandbox", "after the restart")
        await alice.join(session)
        # carol signs in again and gets what the config says now
        assert (await h.login("carol")).identity["role"] == "viewer"


async def test_config_reload_ends_a_removed_users_and_a_demoted_leads_connections(
    tmp_path: Path,
) -> None:
    """What SIGHUP does, in process: ``Relay.reload`` with the edited config."""
    from dataclasses import replace

    from tests.harness import user_config

    roles = {"alice": Role.LEAD, "carol": Role.LEAD, "bob": Role.VIEWER, "dan": Role.VIEWER}
    async with running_relay(tmp_path, users=roles) as h:
        session = await h.open()
        alice = await h.joined("alice", session)
        dan = await h.joined("dan", session)
        bob = await h.joined("bob", session)
        bob_token = bob.identity["token"]
        carol = await h.joined("carol", session)
        carol_lobby = await h.login("carol")
        config = h.relay.config
        users = {name: u for name, u in config.users.items() if name != "bob"}
        users["carol"] = user_config("carol", h.user_keys["carol"], Role.VIEWER)
        await h.relay.reload(replace(config, users=users))

        gone = await cut_off(bob)
        assert (gone.code, gone.message) == (
            "auth_failed",
            "the user 'bob' is no longer on this relay",
        )
        for connection in (carol, carol_lobby):
            demoted = await cut_off(connection)
            assert demoted.message.startswith("carol no longer holds the lead role")
        assert "no longer on this relay" in (await refused(h, token=bob_token)).message
        # the others are unaffected: alice drives, dan watches, and the roster says who left
        await still_works(alice, dan, "AFTER-RELOAD")
        roster = await alice.wait_for(
            lambda e: (
                isinstance(e, dict)
                and e.get("type") == "roster"
                and {p["user"] for p in e["participants"]} == {"alice", "dan"}
            )
        )
        assert isinstance(roster, dict)
        revoked = {(e["user"], e["code"]) for e in events(h, "auth.revoked")}
        assert revoked == {("bob", "unknown_user"), ("carol", "role_changed")}
        reload = events(h, "config.reload")[-1]
        assert (reload["users_removed"], reload["roles_changed"]) == ("bob", "carol")


async def until_audited(directory: Path, event: str, timeout: float = 10.0) -> None:
    """Wait until another process's audit log has ``event`` (written within a second)."""
    async with asyncio.timeout(timeout):
        while not any(e["event"] == event for e in read_events(directory)):
            await asyncio.sleep(0.1)


def _relay_toml(path: Path, data: Path, target: dict[str, Any], users: dict[str, Any]) -> None:
    """Write a relay.toml for ``warroom relay``: one target, ``users`` as {name: (key, role)}."""
    lines = [
        "[relay]",
        f'listen = "127.0.0.1:{target["listen"]}"',
        'name = "hup-relay"',
        f'data_dir = "{data}"',
        "[targets.sandbox]",
        'host = "127.0.0.1"',
        f"port = {target['port']}",
        'user = "demo"',
        f'key = "{target["key"]}"',
        f'known_hosts = "{target["known_hosts"]}"',
    ]
    for name, (key, role) in users.items():
        public = key.export_public_key("openssh").decode().strip()
        lines += [f"[users.{name}]", f'keys = ["{public}"]', f'roles = ["{role}"]']
    path.write_text("\n".join(lines) + "\n")


async def test_sighup_applies_the_edited_config_to_a_running_relay(tmp_path: Path) -> None:
    """``warroom relay`` as deployed: edit relay.toml, send SIGHUP, stale access ends."""
    import signal
    import socket

    import asyncssh

    from relay.cli.sandbox import SandboxTarget

    relay_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "relay_client_key"
    relay_key.write_private_key(str(key_path))
    sandbox = SandboxTarget(
        relay_key, shell=["/bin/bash", "--norc", "--noprofile", "-i"], env={"PS1": "$ "}
    )
    await sandbox.start()
    sandbox.write_known_hosts(tmp_path / "known_hosts")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = {
        "listen": port,
        "port": sandbox.port,
        "key": key_path,
        "known_hosts": tmp_path / "known_hosts",
    }
    names = ["alice", "bob", "carol", "dan"]
    keys = {name: asyncssh.generate_private_key("ssh-ed25519") for name in names}
    users = {
        "alice": (keys["alice"], "lead"),
        "carol": (keys["carol"], "lead"),
        "bob": (keys["bob"], "viewer"),
        "dan": (keys["dan"], "viewer"),
    }
    config = tmp_path / "relay.toml"
    _relay_toml(config, tmp_path / "data", target, users)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients: list[RelayClient] = []

    async def login(user: str) -> RelayClient:
        client = RelayClient(f"ws://127.0.0.1:{port}")
        await client.connect()
        clients.append(client)
        await client.auth_ssh_key(user, keys[user])
        return client

    try:
        assert process.stdout is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        assert "listening on ws://127.0.0.1" in banner, banner
        alice = await login("alice")
        session = await alice.open("sandbox", "INC-1")
        await alice.join(session)
        dan = await login("dan")
        await dan.join(session)
        bob = await login("bob")
        await bob.join(session)
        carol = await login("carol")

        del users["bob"]
        users["carol"] = (keys["carol"], "viewer")
        _relay_toml(config, tmp_path / "data", target, users)
        process.send_signal(signal.SIGHUP)

        gone = await cut_off(bob)
        assert (gone.code, gone.message) == (
            "auth_failed",
            "the user 'bob' is no longer on this relay",
        )
        demoted = await cut_off(carol)
        assert demoted.message == (
            "carol no longer holds the lead role on this relay (now: viewer); "
            "sign in again with `warroom login`"
        )
        stale = RelayClient(f"ws://127.0.0.1:{port}")
        await stale.connect()
        clients.append(stale)
        with pytest.raises(RelayError, match="no longer on this relay"):
            await stale.auth_token(bob.identity["token"])
        await still_works(alice, dan, "HUP")

        config.write_text("[relay\nbroken")  # a bad edit changes nothing
        process.send_signal(signal.SIGHUP)
        await until_audited(tmp_path / "data" / "audit", "config.reload_failed")
        await still_works(alice, dan, "STILL")
    finally:
        for client in clients:
            await client.close()
        code = await stop(process, signal.SIGINT)
        stderr = process.stderr.read() if process.stderr else ""
        await sandbox.close()
    assert code == 0, stderr
    assert "config not reloaded" in stderr and "invalid TOML" in stderr
    audit = [e["event"] for e in read_events(tmp_path / "data" / "audit")]
    assert audit.count("auth.revoked") == 2
    assert "config.reload" in audit and "config.reload_failed" in audit


# ---------------------------------------------------------------- revocation


async def test_revoking_a_user_voids_every_token_online_or_not(harness: Harness) -> None:
    h = harness
    session = await h.open()
    alice = await h.joined("alice", session)
    carol = await h.joined("carol", session)
    offline = await h.login("bob")
    offline_token = offline.identity["token"]
    await offline.close()
    online = await h.joined("bob", session)

    await alice.send({"type": "access_revoke", "user": "bob"})
    reply = await alice.expect("access_revoked")
    assert (reply["grants"], reply["tokens"], reply["invites"]) == ([], 2, [])
    message = (
        "your access was revoked by alice; sign in again with `warroom login` if you still may"
    )
    gone = await cut_off(online)
    assert (gone.code, gone.message) == ("auth_failed", message)
    assert (await refused(h, token=offline_token)).message == message
    await still_works(alice, carol, "UNTOUCHED")
    # a config user may sign in again with their key (the config decides who may)
    again = await h.joined("bob", session)
    assert again.identity["user"] == "bob"
    assert events(h, "access.token_revoke")[0]["tokens"] == 2
    assert [e["code"] for e in events(h, "auth.revoked")] == ["revoked"]


async def test_revoking_an_offline_guest_closes_their_invite_for_good(harness: Harness) -> None:
    h = harness
    session = await h.open()
    alice = await h.joined("alice", session)
    url = (await make_invite(alice, session))["url"]
    eve, who = await guest(h, url, "eve")
    await eve.close()
    await alice.send({"type": "access_revoke", "user": "guest:eve"})
    reply = await alice.expect("access_revoked")
    assert len(reply["invites"]) == 1 and reply["tokens"] == 1
    assert (await refused(h, token=who["token"])).message == (
        "your access was revoked by alice; ask a lead for a new invite"
    )
    assert (await refused(h, invite=_invite_of(url), name="eve2")).message == (
        "this invite was revoked by alice; ask for a new one"
    )


async def test_revoking_one_guest_makes_every_guest_of_that_invite_leave(
    harness: Harness,
) -> None:
    h = harness
    session = await h.open()
    alice = await h.joined("alice", session)
    shared = (await make_invite(alice, session))["url"]
    other = (await make_invite(alice, session))["url"]
    guests = {}
    for name, url in [("g1", shared), ("g2", shared), ("g3", other)]:
        client, _ = await guest(h, url, name)
        await client.join(session)
        guests[name] = client

    await alice.send({"type": "access_revoke", "user": "guest:g1"})
    assert (await alice.expect("access_revoked"))["tokens"] == 2
    for name in ("g1", "g2"):
        assert "revoked by alice" in (await cut_off(guests[name])).message
    await still_works(alice, guests["g3"], "G3-STAYS")
    await alice.wait_for(
        lambda e: (
            isinstance(e, dict)
            and e.get("type") == "roster"
            and {p["user"] for p in e["participants"]} == {"alice", "guest:g3"}
        )
    )


async def test_an_unused_invite_can_be_revoked_by_a_lead_only(harness: Harness) -> None:
    h = harness
    session = await h.open()
    alice = await h.joined("alice", session)
    made = await make_invite(alice, session)
    bob = await h.login("bob")
    await bob.send({"type": "invite_revoke", "id": made["id"]})
    with pytest.raises(RelayError, match="forbidden"):
        await bob.expect("invite_revoked")
    await alice.send({"type": "invite_revoke", "id": made["id"]})
    assert await alice.expect("invite_revoked") == {
        "type": "invite_revoked",
        "id": made["id"],
        "tokens": 0,
    }
    assert "revoked by alice" in (await refused(h, invite=_invite_of(made["url"]))).message
    await alice.send({"type": "invite_revoke", "id": "no-such-invite"})
    with pytest.raises(RelayError) as info:
        await alice.expect("invite_revoked")
    assert info.value.code == "access" and "no invite 'no-such-invite'" in info.value.message
    assert events(h, "access.invite_revoke")[0]["invite"] == made["id"]


async def test_a_single_use_invite_admits_one_of_many_racing_guests(harness: Harness) -> None:
    h = harness
    session = await h.open()
    alice = await h.joined("alice", session)
    made = await make_invite(alice, session, uses=1)
    assert made["uses"] == 1

    async def attempt(n: int) -> str:
        client = await h.client()
        try:
            await client.auth_invite(_invite_of(made["url"]), f"racer{n}")
        except RelayError as exc:
            return exc.message
        return "admitted"

    # eight racers: under the failed-login throttle's burst for one address
    outcomes = await asyncio.gather(*(attempt(n) for n in range(8)))
    assert outcomes.count("admitted") == 1
    assert {o for o in outcomes if o != "admitted"} == {
        "this invite was for 1 use(s) and has been used up; ask the lead for a new one"
    }
    assert any(e["code"] == "used_up" for e in events(h, "auth.failed"))  # aggregated
    for uses in (0, 1001):
        await alice.send(
            {"type": "invite", "role": "viewer", "session": session, "ttl": 60, "uses": uses}
        )
        with pytest.raises(RelayError) as info:
            await alice.expect("invite")
        assert info.value.code == "bad_frame"
        assert info.value.message == "invite: uses must be from 1 to 1000"


async def test_guests_of_a_lead_who_is_removed_or_revoked_leave(tmp_path: Path) -> None:
    """An invite is a lead's word: it lapses when the lead no longer stands."""
    from dataclasses import replace

    roles = {"alice": Role.LEAD, "carol": Role.LEAD, "bob": Role.VIEWER}
    async with running_relay(tmp_path, users=roles) as h:
        session = await h.open()
        alice = await h.joined("alice", session)
        bob = await h.joined("bob", session)
        carol = await h.login("carol")
        from_carol, _ = await guest(h, (await make_invite(carol, session))["url"], "fromcarol")
        await from_carol.join(session)
        from_alice, _ = await guest(h, (await make_invite(alice, session))["url"], "fromalice")
        await from_alice.join(session)
        # carol is taken out of the config: her guest leaves with her
        config = h.relay.config
        users = {name: user for name, user in config.users.items() if name != "carol"}
        await h.relay.reload(replace(config, users=users))
        assert (await cut_off(from_carol)).message == (
            "your invite was made by carol, who is no longer a lead on this relay; "
            "ask a lead for a new one"
        )
        await still_works(alice, from_alice, "ALICES-GUEST")
        await still_works(alice, bob, "BOB")


async def test_revoke_and_invite_from_the_command_line(harness: Harness) -> None:
    h = harness
    session = await h.open()
    alice_token = (await h.login("alice")).identity["token"]
    bob_token = (await h.login("bob")).identity["token"]

    def warroom(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "WARROOM_TOKEN": alice_token}
        return subprocess.run(
            [*WARROOM, *args, "--relay", h.url],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )

    made = await asyncio.to_thread(
        warroom, "invite", "--role", "viewer", "--session", session, "--ttl", "10m", "--uses", "1"
    )
    assert made.returncode == 0 and made.stdout.startswith("warroom join ws://"), made.stderr
    assert "1 use(s)" in made.stderr and "warroom invite --revoke " in made.stderr
    url = made.stdout.split()[-1]
    await guest(h, url, "once")
    assert "used up" in (await refused(h, invite=_invite_of(url))).message

    made = await asyncio.to_thread(
        warroom, "invite", "--role", "viewer", "--session", session, "--ttl", "10m"
    )
    invite_id = made.stderr.split()[1].rstrip(":")
    done = await asyncio.to_thread(warroom, "invite", "--revoke", invite_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"revoked invite {invite_id} (0 guest token(s) voided)"
    assert (
        "revoked by alice" in (await refused(h, invite=_invite_of(made.stdout.split()[-1]))).message
    )

    done = await asyncio.to_thread(warroom, "revoke", "bob")
    assert done.returncode == 0 and done.stdout.strip() == "revoked 0 grant(s) of bob, 1 token(s)"
    assert "revoked by alice" in (await refused(h, token=bob_token)).message
    done = await asyncio.to_thread(warroom, "invite", "--role", "viewer")
    assert done.returncode == 2 and "--session, --ttl required (or --revoke ID)" in done.stderr


# ---------------------------------------------------------------- ended sessions


async def test_every_answer_about_an_ended_session_says_it_ended(harness: Harness) -> None:
    h = harness
    session = await h.open()
    alice = await h.joined("alice", session)
    early_invite = (await make_invite(alice, session))["url"]
    await alice.send({"type": "end", "reason": "INC-3 fixed"})
    await alice.expect("ended")
    lead = await h.login("alice")
    ended = f"the session {session!r} has ended: INC-3 fixed"
    asks: list[dict[str, Any]] = [
        {"type": "join", "session": session},
        {"type": "access_grant", "user": "bob", "role": "viewer", "ttl": 60, "session": session},
        {"type": "invite", "role": "viewer", "session": session, "ttl": 60},
        {"type": "access_request", "role": "viewer", "reason": "x", "session": session},
    ]
    for ask in asks:
        await lead.send(ask)
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert (info.value.code, info.value.message) == ("session_ended", ended), ask
    invite = await refused(h, invite=_invite_of(early_invite))
    assert invite.message == f"this invite is for a session that is not open: {ended}"
    # reviewing an ended session is the point of a reviewer grant
    await lead.send(
        {"type": "access_grant", "user": "bob", "role": "reviewer", "ttl": 60, "session": session}
    )
    await lead.expect("access_granted")
    for ask in asks[:3]:  # a session that never was is still no_such_session
        await lead.send({**ask, "session": "never-was"})
        with pytest.raises(RelayError, match="no_such_session"):
            await lead.expect("never")


# ---------------------------------------------------------------- token details


async def test_tokens_are_bound_to_this_relay_and_its_clock(harness: Harness) -> None:
    h = harness
    relay, now = h.relay, h.relay.clock()
    key = relay.signing_key
    elsewhere = identity.issue(key, "token", "alice", Role.LEAD, None, 600, now, audience="relay-b")
    assert (await refused(h, token=elsewhere)).message == (
        "your login token was issued by relay 'relay-b', not by this relay ('warroom'); "
        "sign in to this relay with `warroom login`"
    )
    early = identity.issue(
        key, "token", "alice", Role.LEAD, None, 600, now + 120, audience="warroom"
    )
    assert "dated 1 minute in the future" in (await refused(h, token=early)).message
    # exp gets the documented few seconds of skew, and no more
    within, _ = await relay.issue_token("alice", Role.LEAD, None, 10, now - 12)
    client = await h.client()
    assert (await client.auth_token(within))["user"] == "alice"
    beyond, _ = await relay.issue_token("alice", Role.LEAD, None, 10, now - 20)
    assert "expired 10 seconds ago" in (await refused(h, token=beyond)).message
    # a signed, well-formed token the store never issued is refused too
    unknown = identity.issue(key, "token", "alice", Role.LEAD, None, 600, now, audience="warroom")
    assert "not on record" in (await refused(h, token=unknown)).message
    codes = [e["code"] for e in events(h, "auth.failed")]
    assert codes == ["wrong_relay", "not_yet_valid", "expired", "unknown_credential"]


def test_a_signing_key_readable_by_others_is_refused_as_openssh_does(tmp_path: Path) -> None:
    from relay.trust.keys import KeyFileError, SigningKey

    keys = tmp_path / "keys"
    SigningKey.load_or_create(keys)
    path = keys / "relay_ed25519"
    assert path.stat().st_mode & 0o777 == 0o600
    for mode in (0o640, 0o604, 0o660, 0o602):
        path.chmod(mode)
        with pytest.raises(KeyFileError) as info:
            SigningKey.load_or_create(keys)
        assert str(info.value) == (
            f"permissions {mode:04o} for {path} are too open: the relay's signing key must not "
            f"be accessible by group or others (it signs every token and invite). "
            f"Run: chmod 600 {path}"
        )
    path.chmod(0o400)
    SigningKey.load_or_create(keys)


def test_the_relay_will_not_start_with_a_loose_signing_key(tmp_path: Path) -> None:
    from relay.trust.keys import SigningKey

    (tmp_path / "k").write_text("x")
    config = tmp_path / "relay.toml"
    config.write_text(
        "[relay]\nlisten = \"127.0.0.1:8422\"\nname = \"r\"\n"
        f'data_dir = "{tmp_path / "data"}"\n'
        "[targets.t]\nhost = \"h\"\nuser = \"u\"\nkey = \"k\"\n"
        "insecure_accept_any_host_key = true\n"
    )  # fmt: skip
    SigningKey.load_or_create(tmp_path / "data" / "keys")
    (tmp_path / "data" / "keys" / "relay_ed25519").chmod(0o644)
    done = subprocess.run(
        [*WARROOM, "relay", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "permissions 0644" in done.stderr and "Run: chmod 600" in done.stderr


async def test_the_recordings_directory_is_private(tmp_path: Path) -> None:
    recordings = tmp_path / "data" / "recordings"
    recordings.mkdir(parents=True, mode=0o755)
    recordings.chmod(0o755)
    async with running_relay(tmp_path, recordings=True) as h:
        assert recordings.stat().st_mode & 0o777 == 0o700
        await h.open()
        assert recordings.stat().st_mode & 0o777 == 0o700
        assert list(recordings.glob("*.cast"))


async def test_a_restarted_demo_reuses_its_session_id_but_refuses_old_links(
    tmp_path: Path,
) -> None:
    """The demo's state starts empty, so the id ``demo`` is new each time: an earlier run's
    invite (same key, same session id) is unknown to it, not let into the new session."""
    from relay.cli.demo import SESSION_ID, start_demo

    first = await start_demo(tmp_path / "demo", 0)
    old = first.invites[Role.VIEWER]
    await first.close()
    second = await start_demo(tmp_path / "demo", 0)
    try:
        client = RelayClient(second.relay.url)
        await client.connect()
        with pytest.raises(RelayError) as info:
            await client.auth_invite(_invite_of(old))
        assert info.value.message.startswith("this invite is not on record at this relay")
        await client.close()
        fresh = RelayClient(second.relay.url)
        await fresh.connect()
        assert (await fresh.auth_invite(_invite_of(second.invites[Role.VIEWER])))[
            "session"
        ] == SESSION_ID
        await fresh.join(SESSION_ID)
        await fresh.close()
    finally:
        await second.close()
