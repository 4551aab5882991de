"""``warroom replay``: a recording in the replay screen, or the screen at a moment.

A file opens as is; a relay URL and a session fetch the recording first
(reviewers and leads), and a URL alone opens the recordings browser. The
verdicts and the key come from :mod:`relay.cli.review`, as ``verify``'s do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from relay.cli.review import EXIT_ERROR, EXIT_OK, load_key, os_reason

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _fail(message: str) -> int:
    print(f"warroom: {message}", file=sys.stderr)
    return EXIT_ERROR


def add_replay(sub: Subparsers) -> None:
    from tui.access_cli import add_ca_cert_option

    p = sub.add_parser(
        "replay",
        help="replay a recording in the TUI (or print the screen at a moment)",
        description=(
            "Open a recording in the replay screen: the terminal, a timeline of the "
            "session's events, the chat and who drove at each moment. Plain asciicast "
            "v2/v3 files open too, marked unverified. Give a relay URL and a session "
            "instead of a file to fetch the session's recording (reviewers and leads); "
            "a reviewer's invite link needs no session, and a URL alone opens the "
            "recordings browser."
        ),
    )
    p.add_argument(
        "source", help="a recording file, a relay URL (ws[s]://host:port) or an invite link"
    )
    p.add_argument(
        "session",
        nargs="?",
        help="with a relay URL: the session to fetch (default: the invite's, or browse)",
    )
    p.add_argument("--at", type=float, default=0.0, metavar="SECONDS", help="start here")
    p.add_argument("--dump", action="store_true", help="print the screen at --at and exit")
    p.add_argument("--key", help="relay public key to verify with (text or file)")
    p.add_argument("--user", default="", help="with a relay URL: your user on the relay")
    p.add_argument("--ssh-key", type=Path, help="with a relay URL: private key to log in with")
    p.add_argument(
        "--save-to", type=Path, help="with a relay URL: the directory for fetched recordings"
    )
    add_ca_cert_option(p)
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from relay.evidence.asciicast import CastError

    if "://" in args.source and not args.dump:
        return _replay_from_relay(args)
    try:
        key = load_key(args.key) if args.key else None
    except ValueError as exc:
        return _fail(f"--key: {exc}")
    try:
        path = _resolve_source(args)
    except (OSError, ValueError) as exc:
        from tui.client import for_people

        return _fail(for_people(exc))
    if path is None:
        return EXIT_ERROR
    try:
        if args.dump:
            return _dump(path, args.at)
        from tui.replay_app import run_replay

        run_replay(path, at=args.at, key=key)
    except BrokenPipeError:
        raise  # "--dump | head" stopped reading: the command line ends quietly
    except OSError as exc:
        return _fail(f"cannot replay {path}: {os_reason(exc)}")
    except CastError as exc:
        return _fail(f"cannot replay {path}: {exc}")
    return EXIT_OK


def _resolve_source(args: argparse.Namespace) -> Path | None:
    """A local file as is; a relay URL and a session: fetch the recording first."""
    if "://" not in args.source:
        if args.session:
            raise ValueError("a session is given only with a relay URL")
        return Path(args.source)
    import asyncio

    from tui.client import RelayError
    from tui.fetch import fetch_session_recording

    try:
        return asyncio.run(
            fetch_session_recording(
                args.source,
                args.session,
                user=args.user,
                key=args.ssh_key,
                directory=args.save_to,
                ca_cert=args.ca_cert,
            )
        )
    except RelayError as exc:
        raise ValueError(f"cannot fetch the recording: {exc.message}") from None


def _replay_from_relay(args: argparse.Namespace) -> int:
    """Fetch and replay (or browse) from a relay: the fetch, login and TUI all in one loop."""
    import asyncio

    from relay.evidence.asciicast import CastError
    from tui.client import RelayError, for_people
    from tui.replay_app import replay_from_relay

    try:
        key = load_key(args.key) if args.key else None
    except (OSError, ValueError) as exc:
        return _fail(f"--key: {exc}")
    try:
        asyncio.run(
            replay_from_relay(
                args.source,
                args.session,
                user=args.user,
                ssh_key=args.ssh_key,
                directory=args.save_to,
                at=args.at,
                key=key,
                ca_cert=args.ca_cert,
            )
        )
    except RelayError as exc:
        return _fail(f"cannot fetch the recording: {for_people(exc)}")
    except (OSError, ValueError, CastError) as exc:
        return _fail(f"cannot replay: {for_people(exc)}")
    return EXIT_OK


def _dump(path: Path, at: float) -> int:
    from relay.evidence.replay import Player, Recording

    recording = Recording.open(path)
    if recording.damage is not None:
        print(f"warroom: {path}: {recording.damage.describe()}", file=sys.stderr)
    player = Player(recording, at)
    print(player.screen_text())
    return EXIT_OK
