"""What one misbehaving or expired client must not be able to do (found in review)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from relay.core.roles import Role
from relay.evidence.audit import read_events
from relay.trust import identity
from tests.harness import Harness, running_relay
from tests.tools import ROOT
from tui.client import RelayClient, RelayError


def audit(h: Harness) -> list[dict[str, object]]:
    return list(read_events(h.data_dir / "audit"))


async def test_an_expired_credential_ends_the_connection_at_its_next_message(
    tmp_path: Path,
) -> None:
    async with running_relay(tmp_path, token_ttl=1.0) as h:
        session = await h.open()
        lead = await h.login("alice")
        await asyncio.sleep(1.2)
        grant = {"type": "access_grant", "user": "bob", "role": "driver", "ttl": 60}
        # the relay's own timer may close the connection first: either way, refused
        assert "expired" in await _refused(lead, grant, "access_granted")
        viewer = await h.login("bob")
        await asyncio.sleep(1.2)
        assert "expired" in await _refused(viewer, {"type": "join", "session": session}, "x")
        assert any(e["event"] == "auth.expired" for e in audit(h))
        assert not any(e["event"] == "access.grant" for e in audit(h))


async def _refused(client: RelayClient, message: dict[str, object], answer: str) -> str:
    """The reason a message from ``client`` was refused (an error, or a close)."""
    from websockets.exceptions import ConnectionClosed

    with pytest.raises(RelayError) as info:
        try:
            await client.send(message)
        except ConnectionClosed as exc:
            raise RelayError("closed", exc.rcvd.reason if exc.rcvd else "") from None
        await client.expect(answer)
    return info.value.message


async def test_the_relay_closes_an_idle_connection_whose_credential_ran_out(
    tmp_path: Path,
) -> None:
    async with running_relay(tmp_path, token_ttl=1.0) as h:
        lurker = await h.login("bob")  # in the lobby, sending nothing
        with pytest.raises(RelayError, match="expired"):
            await lurker.expect("never", timeout=5)


async def test_unauthenticated_names_cannot_bloat_the_audit_log(harness: Harness) -> None:
    for _ in range(3):
        client = await harness.client()
        await client.send(
            {"type": "auth", "method": "ssh", "user": "x" * 500_000, "signature": "AAAA"}
        )
        with pytest.raises(RelayError) as info:
            await client.expect("authenticated")
        assert info.value.code == "bad_frame" and "longer than 63" in info.value.message
    size = sum(p.stat().st_size for p in (harness.data_dir / "audit").glob("*.log"))
    assert size < 20_000
    refused = [e for e in audit(harness) if e["event"] == "protocol.error"]
    assert refused and all(len(str(e)) < 1000 for e in refused)


async def test_guests_are_never_config_users_and_a_revoked_invite_is_dead(
    harness: Harness,
) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    target = identity.parse_join_target(await harness.relay.invite(Role.LEAD, session, 600, "bob"))
    guest = RelayClient(target.url)
    await guest.connect()
    harness.clients.append(guest)
    with pytest.raises(RelayError, match="could pass for 'alice'"):  # nor a look-alike
        await guest.auth_invite(target.invite or "", name="a1ice")
    guest = RelayClient(target.url)
    await guest.connect()
    harness.clients.append(guest)
    who = await guest.auth_invite(target.invite or "")
    assert who["user"] == "guest:bob"  # the invite's own name: never the real bob
    await guest.join(session)
    # grants are for config users only
    await lead.send({"type": "access_grant", "user": "guest:bob", "role": "driver", "ttl": 60})
    with pytest.raises(RelayError, match="no user"):
        await lead.expect("access_granted")
    # guests cannot ask for more than their invite
    await guest.send({"type": "access_request", "role": "driver", "reason": "please"})
    with pytest.raises(RelayError, match="guests"):
        await guest.expect("access_requested")
    # revoking the guest revokes the invite: they leave, and neither token nor invite works
    await lead.send({"type": "access_revoke", "user": "guest:bob"})
    await lead.expect("access_revoked")
    with pytest.raises(RelayError, match="revoked"):
        await guest.expect("never")
    again = await harness.client()
    with pytest.raises(RelayError, match="revoked"):
        await again.auth_token(who["token"])
    fresh = await harness.client()
    with pytest.raises(RelayError, match="revoked"):
        await fresh.auth_invite(target.invite or "")
    assert any(e["event"] == "access.invite_revoke" for e in audit(harness))


async def test_control_messages_are_rate_limited(harness: Harness) -> None:
    session = await harness.open()
    viewer = await harness.login("bob")
    for _ in range(100):
        await viewer.send({"type": "join", "session": session})
        await viewer.send({"type": "leave"})
    errors: list[str] = []
    async with asyncio.timeout(10):
        while "rate_limited" not in errors:
            event = await viewer.recv()
            if isinstance(event, dict) and event.get("type") == "error":
                errors.append(event["code"])
    assert any(e["event"] == "denied" and e["code"] == "rate_limited" for e in audit(harness))


async def test_one_open_at_a_time_and_reasons_are_bounded(harness: Harness) -> None:
    lead = await harness.login("alice")
    await lead.send({"type": "open", "target": "sandbox", "reason": "x" * 600})
    with pytest.raises(RelayError, match="reason_too_long"):
        await lead.expect("opened")
    await lead.send({"type": "open", "target": "sandbox", "reason": "one"})
    await lead.send({"type": "open", "target": "sandbox", "reason": "two"})
    with pytest.raises(RelayError, match="already opening"):
        await lead.expect("never")


async def test_forbidden_requests_are_audited(harness: Harness) -> None:
    session = await harness.open()
    viewer = await harness.joined("bob", session)
    await viewer.send({"type": "take"})
    with pytest.raises(RelayError, match="forbidden"):
        await viewer.expect("never")
    await viewer.send({"type": "open", "target": "sandbox", "reason": "x"})
    with pytest.raises(RelayError, match="forbidden"):
        await viewer.expect("never")
    denied = [e for e in audit(harness) if e["event"] == "denied"]
    assert {e.get("ref") for e in denied} >= {"take", "open"}


async def test_a_long_non_ascii_close_reason_still_closes(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("bob", session)
    await lead.send({"type": "end", "reason": "é" * 110})
    ended = await viewer.expect("ended")
    assert ended["reason"] == "é" * 110
    assert viewer.ws is not None
    await asyncio.wait_for(viewer.ws.wait_closed(), 5)


def test_the_protocol_doc_lists_every_error_code() -> None:
    from relay.core.errors import ErrorCode

    doc = (ROOT / "docs" / "protocol.md").read_text()
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in doc]
    assert missing == []


def test_the_protocol_doc_lists_every_client_message() -> None:
    from relay.core.protocol import CLIENT_TYPES

    doc = (ROOT / "docs" / "protocol.md").read_text()
    missing = [kind for kind in CLIENT_TYPES if f"| `{kind}`" not in doc]
    assert missing == []


async def test_a_session_nobody_joins_ends_on_its_own(tmp_path: Path) -> None:
    from relay.config import Limits

    async with running_relay(tmp_path, limits=Limits(empty_session_timeout=1.0)) as h:
        session = await h.open()
        live = h.relay.sessions[session]
        await asyncio.wait_for(live.wait_closed(), 5)
        closed = [e for e in audit(h) if e["event"] == "session.close"]
        assert closed and "nobody joined" in str(closed[0]["reason"])


def test_the_protocol_doc_lists_every_relay_message() -> None:
    import re

    root = ROOT
    sent = {
        kind
        for path in (root / "relay").rglob("*.py")
        for kind in re.findall(r'"type": "([a-z_]+)"', path.read_text())
    }
    doc = (root / "docs" / "protocol.md").read_text()
    assert sent and [kind for kind in sorted(sent) if f"`{kind}`" not in doc] == []
