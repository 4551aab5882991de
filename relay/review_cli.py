"""The reviewer's verbs: ``warroom verify``, ``warroom export`` and ``warroom replay``.

They work on files, offline, so an auditor needs nothing but the recording
and the relay's public key (``warroom relay --print-key``); ``replay`` can
also fetch a recording from a relay first (reviewers and leads only).

Exit codes of ``verify`` (scripts rely on them):

== ==========================================================================
0  intact and sealed
1  tampered: an edited byte, a dropped, inserted or reordered line, a bad
   signature or one by another key; the message names the first bad line
2  cannot check: no such file, unreadable, bad arguments
3  interrupted: no seal (the relay crashed or the file was truncated); the
   verified prefix is reported and is trustworthy
== ==========================================================================
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.chain import VerifyReport
    from relay.keys import VerifyKey

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_TAMPERED = 1
EXIT_ERROR = 2
EXIT_UNSEALED = 3


def _fail(message: str) -> int:
    print(f"warroom: {message}", file=sys.stderr)
    return EXIT_ERROR


# ---------------------------------------------------------------- verify


def add_verify(sub: Subparsers) -> None:
    p = sub.add_parser(
        "verify",
        help="check that a recording (or audit log file) is complete and untouched",
        description=(
            "Verify the hash chain and the signed checkpoints and seal of a recording or "
            "audit log file. Exit 0: intact. 1: tampered (the first bad line is named). "
            "3: no seal, the writer was interrupted or the file truncated (the verified "
            "prefix is reported). 2: the file cannot be checked."
        ),
    )
    p.add_argument("file", type=Path, help="the recording (.cast) or audit log (.log)")
    p.add_argument(
        "--key",
        help="the relay's public key (warroom-ed25519:...) or a file holding it; without it "
        "signatures are checked against the key the file names",
    )
    p.set_defaults(func=cmd_verify)


def load_key(text: str) -> VerifyKey:
    """A public key given inline or as a file (``relay_ed25519.pub``)."""
    from relay.keys import PUBLIC_KEY_PREFIX, VerifyKey

    if not text.strip().startswith(PUBLIC_KEY_PREFIX):
        text = Path(text).read_text()
    return VerifyKey.from_text(text)


def cmd_verify(args: argparse.Namespace) -> int:
    from relay.chain import verify_file

    try:
        key = load_key(args.key) if args.key else None
    except (OSError, ValueError) as exc:
        return _fail(f"--key: {exc}")
    try:
        report = verify_file(args.file, key)
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    text, code = verdict(report)
    print(text, file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


def verdict(report: VerifyReport) -> tuple[str, int]:
    """What to print and the exit code (see the module docstring)."""
    from relay.chain import Finding

    about = _describe_file(report.path)
    if report.ok:
        return "\n".join([report.summary(), *about]), EXIT_OK
    if all(issue.finding is Finding.UNSEALED for issue in report.issues):
        head = (
            f"{report.path}: INTERRUPTED (no seal): the first {report.verified_prefix_lines} "
            f"line(s) verified ({report.lines} event line(s), {report.checkpoints} signed "
            "checkpoint(s)); what follows is unproven."
        )
        return "\n".join([head, *(i.message for i in report.issues), *report.notes]), (
            EXIT_UNSEALED
        )
    first = report.issues[0]
    head = f"{report.path}: TAMPERED at line {first.line}: {first.finding.value}."
    return "\n".join([head, report.summary(), *about]), EXIT_TAMPERED


def _describe_file(path: Path) -> list[str]:
    """For a recording: whose session it was (from the header the chain just proved)."""
    from relay.asciicast import CastError, read_header

    try:
        header = read_header(path)
    except (CastError, OSError):
        return []
    info = header.warroom or {}
    if not info:
        return []
    return [
        f"session {info.get('session')} on {info.get('target')}, opened by "
        f"{info.get('owner')} ({info.get('reason')}), signed by {info.get('key')}"
    ]


# ---------------------------------------------------------------- export


def add_export(sub: Subparsers) -> None:
    p = sub.add_parser(
        "export",
        help="write a recording as a plain asciicast v2 or v3 file",
        description=(
            "Write a plain asciicast file that asciinema's players and 'asciinema cat' "
            "read: no signatures, no warroom event codes; chat, hand-offs, joins and the end "
            "of the session become markers. Input is left out unless --input is given."
        ),
    )
    p.add_argument("file", type=Path, help="the recording")
    p.add_argument(
        "--format",
        choices=("asciicast-v2", "asciicast-v3"),
        default="asciicast-v3",
        help="asciicast-v2 for asciinema 2.x (and 'asciinema cat'), v3 for asciinema 3",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write ('-': stdout)")
    p.add_argument("--input", action="store_true", help="keep the driver's keystrokes (i events)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from relay.asciicast import CastError
    from relay.export import export

    try:
        if str(args.output) == "-":
            count = export(args.file, sys.stdout, args.format, args.input)
        else:
            with args.output.open("w", encoding="utf-8") as out:
                count = export(args.file, out, args.format, args.input)
    except (OSError, CastError) as exc:
        return _fail(f"cannot export {args.file}: {exc}")
    if str(args.output) != "-":
        print(f"wrote {args.output} ({args.format}, {count} events)", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------- replay


def add_replay(sub: Subparsers) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a recording in the TUI (or print the screen at a moment)",
        description=(
            "Open a recording in the replay screen: the terminal, a timeline of the "
            "session's events, the chat and who drove at each moment. Plain asciicast "
            "v2/v3 files open too, marked unverified. Give a relay URL and a session "
            "instead of a file to fetch the session's recording (reviewers and leads)."
        ),
    )
    p.add_argument("source", help="a recording file, or a relay URL (ws[s]://host:port)")
    p.add_argument("session", nargs="?", help="with a relay URL: the session to fetch")
    p.add_argument("--at", type=float, default=0.0, metavar="SECONDS", help="start here")
    p.add_argument("--dump", action="store_true", help="print the screen at --at and exit")
    p.add_argument("--key", help="relay public key to verify with (text or file)")
    p.add_argument("--user", default="", help="with a relay URL: your user on the relay")
    p.add_argument("--ssh-key", type=Path, help="with a relay URL: private key to log in with")
    p.add_argument(
        "--save-to", type=Path, help="with a relay URL: the directory for fetched recordings"
    )
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from relay.asciicast import CastError

    try:
        path = _resolve_source(args)
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    if path is None:
        return EXIT_ERROR
    try:
        if args.dump:
            return _dump(path, args.at)
        from tui.replay_app import run_replay

        key = load_key(args.key) if args.key else None
        run_replay(path, at=args.at, key=key)
    except (OSError, CastError) as exc:
        return _fail(f"cannot replay {path}: {exc}")
    return EXIT_OK


def _resolve_source(args: argparse.Namespace) -> Path | None:
    """A local file as is; a relay URL and a session: fetch the recording first."""
    if "://" not in args.source:
        if args.session:
            raise ValueError("a session is given only with a relay URL")
        return Path(args.source)
    if not args.session:
        raise ValueError("with a relay URL, say which session to replay")
    import asyncio

    from tui.client import RelayError
    from tui.fetch import fetch_session_recording

    try:
        return asyncio.run(
            fetch_session_recording(
                args.source, args.session, user=args.user, key=args.ssh_key, directory=args.save_to
            )
        )
    except RelayError as exc:
        raise ValueError(f"cannot fetch the recording: {exc}") from None


def _dump(path: Path, at: float) -> int:
    from relay.replay import Player, Recording

    recording = Recording.open(path)
    player = Player(recording, at)
    print(player.screen_text())
    return EXIT_OK


VERBS = (add_verify, add_export, add_replay)
