"""The access verbs of ``warroom`` that talk to a relay: grant, revoke, invite, request, end.

They use the caller's stored login (see ``warroom login``); the relay decides
whether they may. ``warroom audit``, which reads the log on the relay host, is
:mod:`relay.cli.audit`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from relay.cli.arguments import duration
from relay.core import messages
from relay.core.access import GRANT_ROLES
from relay.core.roles import Role

DEFAULT_RELAY = os.environ.get("WARROOM_RELAY", "ws://127.0.0.1:8422")


def add_ca_cert_option(p: argparse.ArgumentParser) -> None:
    """``--ca-cert``: for every verb that dials a relay."""
    p.add_argument(
        "--ca-cert",
        type=Path,
        metavar="FILE",
        help="for a wss:// relay whose certificate comes from a private CA: that CA's "
        "certificate (PEM), trusted instead of the system's CAs (or set $SSL_CERT_FILE)",
    )


def _relay_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--relay", default=DEFAULT_RELAY, help="relay URL ($WARROOM_RELAY)")
    p.add_argument(
        "--login-user",
        default=os.environ.get("USER", ""),
        help="your user on the relay, if not logged in",
    )
    p.add_argument("--key", type=Path, help="private key file, if not logged in")
    add_ca_cert_option(p)


def add_access_verbs(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "grant",
        help="give a user a role for a limited time (leads)",
        description="Give a user of the relay a role for a limited time; a driver grant "
        "hands them control at once where they are. Audited with the reason.",
    )
    p.add_argument("user", help="who gets access (a user in the relay's config)")
    p.add_argument(
        "--role",
        required=True,
        choices=list(GRANT_ROLES),
        help="viewer watches, driver types, reviewer replays recordings",
    )
    p.add_argument("--ttl", required=True, type=duration, help="how long, e.g. 30m, 2h")
    p.add_argument("--session", help="only this session (default: all sessions)")
    p.add_argument("--target", help="only sessions on this target")
    p.add_argument("--reason", default="", help="why (kept in the audit log)")
    _relay_options(p)
    p.set_defaults(func=_cmd_grant)

    p = sub.add_parser(
        "revoke",
        help="void everything a user or guest holds, online or not (leads)",
        description=(
            "Without --session: remove USER's grants and void every token they hold, "
            "connected or not; their connections end at once. For a guest (guest:NAME) "
            "this closes the invite they came in with, and every guest of that invite "
            "leaves. A config user can sign in again: remove them from relay.toml (and "
            "send the relay SIGHUP) to keep them out. With --session or --grants-only: "
            "only remove USER's grants (on that session), and leave their login alone."
        ),
    )
    p.add_argument("user", help="a user (bob) or a guest (guest:dave)")
    p.add_argument("--session", help="only grants on this session; tokens stay valid")
    p.add_argument(
        "--grants-only",
        action="store_true",
        help="only remove USER's grants (temporary access); tokens stay valid",
    )
    _relay_options(p)
    p.set_defaults(func=_cmd_revoke)

    p = sub.add_parser(
        "invite",
        help="make an expiring invite link for a session, or revoke one (leads)",
        description=(
            "Print a 'warroom join' command with a signed, expiring invite: whoever has it "
            "joins the session with the role, as guest:NAME (the invite's id goes to "
            "stderr). With --revoke ID: close that invite, used or not; every guest who "
            "came in with it leaves."
        ),
    )
    p.add_argument(
        "--role",
        choices=[role.value for role in Role],
        help="what the guest may do in the session",
    )
    p.add_argument("--session", help="the session the invite opens")
    p.add_argument("--ttl", type=duration, help="how long the invite works, e.g. 30m")
    p.add_argument("--name", help="the guest's display name")
    p.add_argument("--uses", type=int, help="how many guests may use it (default: any number)")
    p.add_argument("--revoke", metavar="ID", help="revoke the invite with this id instead")
    _relay_options(p)
    p.set_defaults(func=_cmd_invite)

    p = sub.add_parser(
        "request",
        help="ask the leads for a role, with a reason",
        description="Ask the relay's leads for a role for a while; waits for the answer "
        "unless --no-wait.",
    )
    p.add_argument(
        "--role",
        required=True,
        choices=list(GRANT_ROLES),
        help="viewer watches, driver types, reviewer replays recordings",
    )
    p.add_argument("--reason", required=True, help='e.g. "INC-4211: checking slow queries"')
    p.add_argument("--session", help="the session you need it on")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the decision")
    _relay_options(p)
    p.set_defaults(func=_cmd_request)

    p = sub.add_parser(
        "end",
        help="end a session for everyone at once (leads)",
        description="End a session: everyone is told, the shell closes and the recording "
        "is sealed.",
    )
    p.add_argument("session", help="the session to end (as the lobby lists it)")
    p.add_argument("--reason", default="ended by the lead", help="why (everyone sees it)")
    _relay_options(p)
    p.set_defaults(func=_cmd_end)


def _fail(message: str) -> int:
    print(f"warroom: {message}", file=sys.stderr)
    return 2


Action = Callable[[Any], Awaitable[int]]


def _with_relay(args: argparse.Namespace, action: Action) -> int:
    """Connect and authenticate with the stored login, then run ``action(client)``."""
    from relay.trust.identity import parse_join_target
    from tui.client import RelayClient, RelayError, for_people
    from tui.login import authenticate

    async def run() -> int:
        target = parse_join_target(args.relay)
        client = RelayClient(target.url, ca_cert=args.ca_cert)
        await client.connect()
        try:
            await authenticate(client, target, user=args.login_user, key=args.key)
            return await action(client)
        finally:
            await client.close()

    try:
        return asyncio.run(run())
    except (RelayError, OSError, ValueError) as exc:
        return _fail(for_people(exc))


def _message(kind: str, **fields: Any) -> dict[str, Any]:
    """A protocol message; options the user left out are not sent at all."""
    return {"type": kind, **{k: v for k, v in fields.items() if v is not None}}


def _cmd_grant(args: argparse.Namespace) -> int:
    async def grant(client: Any) -> int:
        await client.send(
            _message(
                "access_grant",
                user=args.user,
                role=args.role,
                ttl=args.ttl,
                reason=args.reason,
                session=args.session,
                target=args.target,
            )
        )
        granted = (await client.expect(messages.AccessGranted))["grant"]
        until = time.strftime("%H:%M:%S", time.localtime(granted["expires_at"]))
        print(f"granted {granted['role']} to {granted['user']} until {until} (id {granted['id']})")
        return 0

    return _with_relay(args, grant)


def _cmd_revoke(args: argparse.Namespace) -> int:
    async def revoke(client: Any) -> int:
        await client.send(
            _message(
                "access_revoke",
                user=args.user,
                session=args.session,
                grants_only=args.grants_only or None,
            )
        )
        reply = await client.expect(messages.AccessRevoked)
        line = f"revoked {len(reply['grants'])} grant(s) of {args.user}"
        if reply.get("tokens") or reply.get("invites") or not (args.session or args.grants_only):
            line += f", {reply.get('tokens', 0)} token(s)"
            invites = reply.get("invites") or []
            if invites:
                line += f" and invite(s) {', '.join(invites)}"
        print(line)
        return 0

    return _with_relay(args, revoke)


def _cmd_invite(args: argparse.Namespace) -> int:
    if args.revoke is not None:
        return _with_relay(args, lambda client: _revoke_invite(client, args.revoke))
    missing = [f"--{name}" for name in ("role", "session", "ttl") if getattr(args, name) is None]
    if missing:
        return _fail(f"invite: {', '.join(missing)} required (or --revoke ID)")
    if args.uses is not None and args.uses < 1:
        return _fail("invite: --uses must be at least 1")

    async def invite(client: Any) -> int:
        await client.send(
            _message(
                "invite",
                role=args.role,
                session=args.session,
                ttl=args.ttl,
                name=args.name,
                uses=args.uses,
            )
        )
        reply = await client.expect(messages.InviteMade)
        print(f"warroom join {reply['url']}")
        uses = f"{reply['uses']} use(s)" if reply.get("uses") else "any number of uses"
        until = time.strftime("%H:%M:%S", time.localtime(reply["expires_at"]))
        print(
            f"invite {reply['id']}: {uses} until {until}; "
            f"revoke with: warroom invite --revoke {reply['id']}",
            file=sys.stderr,
        )
        return 0

    return _with_relay(args, invite)


async def _revoke_invite(client: Any, invite_id: str) -> int:
    await client.send({"type": "invite_revoke", "id": invite_id})
    reply = await client.expect(messages.InviteRevoked)
    print(f"revoked invite {invite_id} ({reply['tokens']} guest token(s) voided)")
    return 0


def _cmd_request(args: argparse.Namespace) -> int:
    async def request(client: Any) -> int:
        await client.send(
            _message("access_request", role=args.role, reason=args.reason, session=args.session)
        )
        asked = (await client.expect(messages.AccessRequested))["request"]
        print(f"asked the leads for {asked['role']} (request {asked['id']})", file=sys.stderr)
        if args.no_wait:
            return 0
        decision = await client.expect(messages.AccessDecision, timeout=24 * 3600)
        if not decision["approved"]:
            print(f"denied by {decision['by']}: {decision['reason'] or 'no reason given'}")
            return 1
        grant = decision["grant"]
        until = time.strftime("%H:%M:%S", time.localtime(grant["expires_at"]))
        print(f"approved by {decision['by']}: {grant['role']} until {until}")
        return 0

    return _with_relay(args, request)


def _cmd_end(args: argparse.Namespace) -> int:
    async def end(client: Any) -> int:
        await client.join(args.session)
        await client.send({"type": "end", "reason": args.reason})
        ended = await client.expect(messages.Ended)
        print(f"session {args.session} ended: {ended['reason']}")
        return 0

    return _with_relay(args, end)
