"""``warroom audit``: the relay's audit log, listed or verified.

It reads the audit log from the data directory directly, as an auditor on the
relay host would, and can verify its chain offline; in a cluster it also reads
every relay's events from the shared database (``--database``), and verifies a
relay's files against the witness records kept there (``--witness URL``). The
access verbs that talk to a running relay (grant, revoke, invite, request,
end) are the client's: :mod:`tui.access_cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from relay.cli.arguments import since


def add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="list or verify the relay's audit log",
        description="Read <data-dir>/audit: every login, join, grant, request and refusal. "
        "With --database, read the events of every relay of a cluster from their database.",
    )
    p.add_argument("--data-dir", type=Path, help="the relay's data directory")
    p.add_argument(
        "--database",
        metavar="URL",
        help="list the events every relay of a cluster copied to its database (the relays' "
        "[cluster] database, postgresql://...), each with the relay's node, instead of "
        "one data dir's",
    )
    p.add_argument("--user", help="only events of this user")
    p.add_argument("--session", help="only events of this session")
    p.add_argument(
        "--since",
        type=since,
        help="only events after this: how long ago (2h, 3d), a date or time "
        "(2024-05-01, 2024-05-01T09:30, local time) or a unix time",
    )
    p.add_argument("--json", action="store_true", help="JSON lines, for a SIEM")
    p.add_argument(
        "--verify",
        action="store_true",
        help="check every file, the links between them and their signers; exit 0 intact, "
        "1 tampered, 2 cannot check, 3 interrupted (a crash left a file unsealed)",
    )
    p.add_argument(
        "--key",
        action="append",
        default=[],
        help="the relay's public key (warroom-ed25519:... or a file holding it, e.g. "
        "relay_ed25519.pub); repeat it to accept a key rotation",
    )
    p.add_argument(
        "--witness",
        metavar="FILE|URL",
        help="with --verify: an export of the relay's witness log (syslog/journald lines "
        "tagged warroom-witness), or the cluster's database (postgresql://...) that keeps "
        "the same records, to find deleted or cut-short files",
    )
    p.add_argument(
        "--node",
        help="with --witness postgresql://...: the relay ([cluster] node) whose data dir "
        "this is (default: the relay whose records name these files)",
    )
    p.set_defaults(func=_cmd_audit)


def _fail(message: str) -> int:
    print(f"warroom: {message}", file=sys.stderr)
    return 2


def _cmd_audit(args: argparse.Namespace) -> int:
    if args.database is not None:
        if args.verify:
            return _fail(
                "--verify checks one relay's files: give its --data-dir, and the database "
                "as --witness"
            )
        return _list_from_database(args)
    directory = _audit_dir(args.data_dir)
    if args.verify:  # with a witness, a directory that is gone is a finding, not an error
        return _verify_audit(directory, args.key, args.witness, args.node)
    if not directory.is_dir():
        return _fail(f"no audit log in {directory}")
    from relay.evidence.audit import read_events

    for event in read_events(directory):
        if not _matches(event, args.user, args.session, args.since):
            continue
        print(json.dumps(event, sort_keys=True) if args.json else entry_line(event))
    return 0


def _audit_dir(data_dir: Path | None) -> Path:
    """``--data-dir``'s log; else the default relay's, or the demo's when only it exists.

    ``warroom demo`` keeps its data in ``<default>/demo`` so that it never
    mixes with a real relay's on the same machine; ``warroom audit`` right
    after ``make demo`` still finds the demo's log, and says that it did.
    """
    from relay.config import default_data_dir

    if data_dir is not None:
        return data_dir / "audit"
    default = default_data_dir() / "audit"
    demo = default_data_dir() / "demo" / "audit"
    if not default.is_dir() and demo.is_dir():
        print(f"warroom: reading the demo's audit log in {demo}", file=sys.stderr)
        return demo
    return default


def _matches(
    event: dict[str, Any], user: str | None, session: str | None, since: float | None
) -> bool:
    if user is not None and user not in (event.get("user"), event.get("by")):
        return False
    if session is not None and event.get("session") != session:
        return False
    return since is None or float(event.get("t", 0)) >= since


def entry_line(event: dict[str, Any]) -> str:
    """One event on one line: every value escaped (``relay.core.text.escape``), so that no
    field a client wrote can start a forged line or reach the terminal as a control."""
    from relay.core.text import escape

    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(event.get("t", 0))))
    except (TypeError, ValueError, OverflowError):
        stamp = escape(event.get("t"))
    rest = " ".join(
        f"{escape(k)}={escape(v)}"
        for k, v in sorted(event.items())
        if k not in ("t", "event") and v not in (None, "")
    )
    return f"{stamp}  {escape(event.get('event', '?')):<18} {rest}"


def _verify_audit(
    directory: Path, key_texts: list[str], witness_arg: str | None, node: str | None
) -> int:
    from relay.evidence.verdicts import check_audit
    from relay.evidence.witness import WitnessRecord, read_witness
    from relay.trust.keys import load_verify_key

    try:
        keys = [load_verify_key(text) for text in key_texts]
    except (OSError, ValueError) as exc:
        return _fail(f"--key: {exc}")
    witness: list[WitnessRecord] | None = None
    if witness_arg is not None and _is_database(witness_arg):
        try:
            witness = _witness_from_database(witness_arg, directory, node)
        except ValueError as exc:
            return _fail(f"--witness: {exc}")
    elif node is not None:
        return _fail("--node goes with --witness postgresql://...")
    elif witness_arg is not None:
        witness_path = Path(witness_arg)
        try:
            witness, malformed = read_witness(witness_path)
        except OSError as exc:
            return _fail(f"--witness: cannot read {witness_path}: {exc.strerror or exc}")
        if malformed:
            print(
                f"warroom: --witness: {malformed} malformed witness line(s) ignored",
                file=sys.stderr,
            )
    try:
        check = check_audit(directory, keys, witness)
    except OSError as exc:
        return _fail(f"cannot read the audit log: {exc}")
    print(check.text())
    return int(check.verdict)


# ---------------------------------------------------------------- a cluster's database


def _is_database(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def _list_from_database(args: argparse.Namespace) -> int:
    """``warroom audit --database URL``: every relay's copied events, filtered in the database."""
    from relay.store import StoreError
    from relay.store.pg_audit import open_for_reading, read_events
    from relay.store.pg_database import check_dsn

    try:
        dsn = check_dsn(args.database)
    except ValueError as exc:
        return _fail(f"--database: {exc}")
    try:
        with open_for_reading(dsn) as conn:
            for event in read_events(conn, user=args.user, session=args.session, since=args.since):
                print(json.dumps(event, sort_keys=True) if args.json else entry_line(event))
    except StoreError as exc:
        return _fail(str(exc))
    return 0


def _witness_from_database(dsn: str, directory: Path, node: str | None) -> list[Any]:
    """The witness records of the relay whose audit files are in ``directory``.

    Every relay of a cluster signs with the same key and names its files
    alike, so the records must be those of one node: ``node`` if given, else
    the node whose records saw one of these files start (a file's start hash
    binds its header: its name, start time and link). ``ValueError`` says why
    there is no answer.
    """
    from relay.store import StoreError
    from relay.store.pg_audit import open_for_reading, read_witness, witness_starts
    from relay.store.pg_database import check_dsn

    try:
        check_dsn(dsn)
        with open_for_reading(dsn) as conn:
            starts = witness_starts(conn)
            if not starts:
                raise ValueError("the database holds no witness records")
            nodes = ", ".join(sorted(starts))
            if node is None:
                node = _node_of(directory, starts, nodes)
            elif node not in starts:
                raise ValueError(f"no witness records of node {node!r} (the database has: {nodes})")
            records = read_witness(conn, node)
    except StoreError as exc:
        raise ValueError(str(exc)) from None
    print(f"warroom: --witness: the records of node {node}", file=sys.stderr)
    return records


def _node_of(directory: Path, starts: dict[str, set[str]], nodes: str) -> str:
    import hashlib

    from relay.evidence.audit import audit_files
    from relay.evidence.chain import CHAIN_DOMAIN

    mine: set[str] = set()
    for path in audit_files(directory) if directory.is_dir() else []:
        with path.open("rb") as handle:
            start = hashlib.sha256(CHAIN_DOMAIN + handle.readline()).hexdigest()
        mine |= {name for name, hashes in starts.items() if start in hashes}
    if len(mine) == 1:
        return mine.pop()
    if not mine:
        raise ValueError(
            f"no relay's records in the database name the files in {directory}: say whose "
            f"data dir this is with --node (one of: {nodes})"
        )
    raise ValueError(
        f"the files in {directory} are named by several relays' records: say which with "
        f"--node (one of: {', '.join(sorted(mine))})"
    )
