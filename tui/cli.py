"""The ``warroom`` command: one verb per job, ``--help`` on each.

It sits with the UI, where both packages are visible (the relay never imports
the UI): the relay's verbs come from :mod:`relay.cli.serve` (``relay``),
:mod:`relay.cli.review` (``verify``, ``export``) and :mod:`relay.cli.audit`
(``audit``); the engineer's are here and beside it: ``login`` and ``join``
(the TUI), ``demo`` (everything on loopback, no config, the lead's window
open), ``replay`` (:mod:`tui.replay_cli`) and the access verbs that talk to a
relay (:mod:`tui.access_cli`). Heavy imports happen inside each verb so
``warroom --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from relay import __version__
from relay.cli.arguments import Parser, attach_negative_values, quiet_broken_pipe
from relay.cli.audit import add_audit
from relay.cli.review import add_export, add_verify
from relay.cli.serve import add_relay, fail, serve_until_signalled
from relay.core.text import clean
from tui.access_cli import add_access_verbs, add_ca_cert_option
from tui.replay_cli import add_replay

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _add_demo(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="a relay, a sandbox target and a session, on this machine",
        description=(
            "Start a relay on 127.0.0.1 with a sandbox SSH target (your own shell in a PTY, "
            "started in a throwaway home under the data dir), "
            "open a session on it and open the lead's window. With --headless, print one "
            "ready-to-paste 'warroom join' command per role instead and serve until "
            "interrupted."
        ),
    )
    p.add_argument("--headless", action="store_true", help="no TUI: print the invites and serve")
    p.add_argument("--data-dir", type=Path, help="where recordings, audit log and keys go")
    p.add_argument("--port", type=int, default=8422, help="relay port (0: any free port)")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a certificate from a CA made for the demo (kept under the "
        "data dir); the printed commands trust it with --ca-cert",
    )
    p.set_defaults(func=_cmd_demo)


def _add_login(sub: Subparsers) -> None:
    p = sub.add_parser(
        "login",
        help="prove who you are with your SSH key and keep the relay's token",
        description=(
            "Sign the relay's challenge with your SSH key (a key file, or the ssh-agent) and "
            "store the short-lived token in the OS keyring (or, with --insecure-storage, in "
            "a file only you can read), so that the other verbs need no key."
        ),
    )
    p.add_argument("url", help="the relay, e.g. wss://relay.example.com:8422")
    p.add_argument("--user", default=os.environ.get("USER", ""), help="your user on the relay")
    p.add_argument("--key", type=Path, help="private key file (default: the ssh-agent)")
    p.add_argument("--print-token", action="store_true", help="print the token to stdout")
    p.add_argument(
        "--insecure-storage",
        action="store_true",
        help="keep the token in a plain-text file only you can read (in your config "
        "directory) instead of the OS keyring: for machines without one",
    )
    add_ca_cert_option(p)
    p.set_defaults(func=_cmd_login)


def _add_join(sub: Subparsers) -> None:
    p = sub.add_parser(
        "join",
        help="join a session (an invite link, a session link, or a relay for its lobby)",
        description="Open the warroom TUI on a session.",
    )
    p.add_argument("target", help="invite link, ws(s)://relay/s/<session>, or ws(s)://relay")
    p.add_argument("--name", help="your display name when joining with an invite")
    p.add_argument("--user", default=os.environ.get("USER", ""), help="your user on the relay")
    p.add_argument("--key", type=Path, help="private key file to log in with")
    add_ca_cert_option(p)
    p.set_defaults(func=_cmd_join)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
        prog="warroom",
        description="One shared, recorded, access-controlled shell for on-call teams.",
    )
    parser.add_argument("--version", action="version", version=f"warroom {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for add in (add_relay, _add_demo, _add_login, _add_join, add_verify, add_export, add_replay):
        add(sub)
    add_access_verbs(sub)
    add_audit(sub)
    return parser


EXIT_BUG = 70  # sysexits' EX_SOFTWARE: not 1, which verify's TAMPERED verdict uses


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    if args.verb is None:  # plain "warroom": say what it can do
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()
    except Exception as exc:  # a bug: say so in one line; the traceback only when asked
        if os.environ.get("WARROOM_DEBUG"):
            raise
        print(
            f"warroom {args.verb}: unexpected error ({type(exc).__name__}: {clean(str(exc))}). "
            "This is a bug in warroom; run again with WARROOM_DEBUG=1 for the traceback, "
            "and report it.",
            file=sys.stderr,
        )
        return EXIT_BUG
    return code


# ---------------------------------------------------------------- demo


def _demo_data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    from relay.config import default_data_dir

    return default_data_dir() / "demo"


def _cmd_demo(args: argparse.Namespace) -> int:
    from relay.cli.demo import start_demo

    data_dir = _demo_data_dir(args)

    async def run() -> None:
        demo = await start_demo(data_dir, args.port, tls=args.tls)
        try:
            print(f"warroom demo: relay on {demo.relay.url}, data in {data_dir}")
            print(
                f"sandbox: your shell, as {os.environ.get('USER', 'you')}, in a throwaway home "
                f"({demo.home}, emptied at every start); it is not isolated from this machine"
            )
            audit = "" if args.data_dir is None else f" --data-dir {data_dir}"
            print(f"audit log: warroom audit{audit}")
            sys.stdout.flush()
            if args.headless:
                for line in demo.commands():
                    print(line)
                sys.stdout.flush()
                await serve_until_signalled()
            else:
                from relay.core.roles import Role
                from tui.app import run_join

                await run_join(
                    demo.invites[Role.LEAD], name=None, user="", key=None, ca_cert=demo.ca_cert
                )
        finally:
            await demo.close()

    try:
        asyncio.run(run())
    except (OSError, ValueError) as exc:  # ValueError: a key file with loose permissions
        return fail(f"cannot start the demo: {exc}")
    return 0


# ---------------------------------------------------------------- engineer side


def _cmd_login(args: argparse.Namespace) -> int:
    from tui.client import RelayError, for_people
    from tui.login import login

    try:
        token = asyncio.run(
            login(args.url, args.user, args.key, args.ca_cert, args.insecure_storage)
        )
    except (RelayError, OSError, ValueError) as exc:
        return fail(f"login failed: {for_people(exc)}")
    if args.print_token:
        print(token)
    return 0


def _cmd_join(args: argparse.Namespace) -> int:
    from tui.app import run_join
    from tui.client import RelayError, for_people

    try:
        asyncio.run(
            run_join(
                args.target, name=args.name, user=args.user, key=args.key, ca_cert=args.ca_cert
            )
        )
    except (RelayError, OSError, ValueError) as exc:
        return fail(for_people(exc))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
