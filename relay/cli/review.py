"""The reviewer's verbs on files: ``warroom verify`` and ``warroom export``.

They work offline, so an auditor needs nothing but the recording and the
relay's public key (``warroom relay --print-key``). ``warroom replay``, which
opens the UI (and can fetch a recording from a relay first), is
:mod:`tui.replay_cli`.

Exit codes of ``verify`` (scripts rely on them):

== ==========================================================================
0  intact and sealed
1  tampered: an edited byte, a dropped, inserted or reordered line, a bad
   signature or one by another key (a header naming a key that did not sign
   included), or, with ``--audit``, shorter than the audit log recorded it;
   every problem is listed
2  cannot check: no such file, unreadable, bad arguments, or ``--audit``
   has no record of the file
3  interrupted: no seal (the relay crashed, or the file was cut after its
   last audited state: ``--audit`` tells which); the verified prefix is
   reported and is trustworthy
== ==========================================================================

The verdicts themselves are :mod:`relay.evidence.verdicts`'s; ``export`` uses them to
refuse a source that does not verify unless ``--force``, and records the
verdict and the source's SHA-256 in the export's header.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.evidence.verifier import VerifyReport
    from relay.trust.keys import VerifyKey

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
    p.add_argument(
        "file",
        help="the recording (.cast) or audit log (.log): a file, or s3://BUCKET/KEY in object "
        "storage (a sealed object, or the segments of one still growing or left by a crash)",
    )
    _key_option(p)
    p.add_argument(
        "--audit",
        type=Path,
        metavar="DATA_DIR",
        help="the relay's data directory (or its audit/): check the file against the audit "
        "log's record of it, which tells a file cut short from a crashed session",
    )
    p.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="with s3://: the S3-compatible server (default: AWS_ENDPOINT_URL_S3, or AWS S3); "
        "credentials and region come from the usual AWS variables and files",
    )
    p.add_argument("--s3-region", metavar="REGION", help="with s3://: the bucket's region")
    p.set_defaults(func=cmd_verify)


def _key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--key",
        help="the relay's public key (warroom-ed25519:...) or a file holding it; without it "
        "signatures are checked against the key the file names",
    )


def load_key(text: str) -> VerifyKey:
    """A public key given inline or as a file (``relay_ed25519.pub``)."""
    from relay.trust.keys import load_verify_key

    return load_verify_key(text)


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        keys = [load_key(args.key)] if args.key else []
    except (OSError, ValueError) as exc:
        return _fail(f"--key: {exc}")
    if not args.file.startswith(S3_SCHEME):
        return _verify(Path(args.file), keys, args.audit, args.file)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="warroom-verify-") as directory:
        try:
            path = _download_s3(args.file, args.s3_endpoint, args.s3_region, Path(directory))
        except ValueError as exc:
            return _fail(str(exc))
        return _verify(path, keys, args.audit, args.file)


def _verify(path: Path, keys: list[VerifyKey], audit: Path | None, shown: str) -> int:
    """Verify ``path``, naming it ``shown`` (an s3:// URL for a downloaded copy)."""
    from relay.evidence.verdicts import Verdict, check_recording

    try:
        check = check_recording(path, keys, audit)
    except OSError as exc:
        return _fail(f"cannot read {shown}: {exc.strerror or exc}")
    if not check.report.ok:
        not_chain = _not_a_chain(check.report)
        if not_chain is not None:
            return _fail(not_chain.replace(str(path), shown))
    verdict = check.verdict
    text = check.text().replace(str(path), shown)
    print(text, file=sys.stdout if verdict is Verdict.INTACT else sys.stderr)
    return int(verdict)


S3_SCHEME = "s3://"


def _download_s3(url: str, endpoint: str | None, region: str | None, directory: Path) -> Path:
    """Copy ``s3://bucket/key`` (its sealed object, or its segments) into ``directory``.

    Raises ``ValueError`` with a sentence for a bad URL or option, or a
    bucket that cannot be read.
    """
    from relay.storage.bucket import Bucket, StorageError
    from relay.storage.config import S3Config, parse_bucket, parse_endpoint, parse_region
    from relay.storage.reader import download

    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    name = key.rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        raise ValueError(f"{url}: name an object, as in s3://bucket/prod/recordings/NAME.cast")
    try:
        config = S3Config(
            bucket=parse_bucket(bucket),
            endpoint=parse_endpoint(endpoint) if endpoint else None,
            region=parse_region(region) if region else None,
        )
        dest = directory / name
        stored = download(Bucket(config), key, dest)
    except StorageError as exc:
        raise ValueError(f"cannot read {url}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{url}: {exc}") from None
    if stored.sealed:
        how = "its sealed object"
    else:
        how = f"{len(stored.segments)} segment(s) (no sealed object: still recording, or cut off)"
    print(f"{url}: read {stored.size} bytes, {how}", file=sys.stderr)
    return dest


def _not_a_chain(report: VerifyReport) -> str | None:
    """Why the file is no recording or audit log at all, if it is not (exit 2, not 3).

    Only when nothing in it was ever signed: a warroom file whose header was
    edited still has signed checkpoints, and is reported as tampered.
    """
    import json

    from relay.evidence.audit import AUDIT_FORMAT
    from relay.evidence.verifier import Finding, read_header

    path = report.path
    if report.checkpoints or any(
        i.finding not in (Finding.UNSEALED, Finding.MALFORMED) for i in report.issues
    ):
        return None
    try:
        if path.stat().st_size == 0:
            return f"{path} is empty: it is not a warroom recording or audit log"
        header = json.loads(read_header(path))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        header = None
    if isinstance(header, dict):
        if isinstance(header.get("warroom"), dict) or header.get("format") == AUDIT_FORMAT:
            return None
        if header.get("version") in (2, 3):
            return (
                f"{path} is a plain asciicast file: it carries no signatures to verify "
                "(warroom export leaves them out)"
            )
    return f"{path} is not a warroom recording or audit log (line 1 is not a warroom header)"


# ---------------------------------------------------------------- export


def add_export(sub: Subparsers) -> None:
    p = sub.add_parser(
        "export",
        help="write a recording as a plain asciicast file (v2 by default) for other players",
        description=(
            "Write a plain asciicast file that asciinema's players and 'asciinema cat' "
            "read: no signatures, no warroom event codes; chat, hand-offs, joins and the end "
            "of the session become markers. Input is left out unless --input is given. "
            "The header has the terminal's size when output began; later resizes are events."
        ),
    )
    p.add_argument("file", type=Path, help="the recording")
    p.add_argument(
        "--format",
        choices=("asciicast-v2", "asciicast-v3"),
        default="asciicast-v2",
        help="asciicast-v2 (the default: asciinema 2.x, 'asciinema cat', asciinema-player) "
        "or asciicast-v3 (asciinema 3)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write ('-': stdout)")
    p.add_argument("--input", action="store_true", help="keep the driver's keystrokes (i events)")
    _key_option(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="export even a recording that does not verify (its header then says so)",
    )
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from relay.evidence.asciicast import CastError
    from relay.evidence.export import export
    from relay.evidence.verdicts import Verdict, provenance

    to_stdout = str(args.output) == "-"
    folder = args.output.parent
    if not to_stdout and not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        return _fail(f"cannot write {args.output}: the directory {folder} {what}")
    try:
        keys = [load_key(args.key)] if args.key else []
        verdict, source = provenance(args.file, keys)
    except OSError as exc:
        return _fail(f"cannot export {args.file}: {os_reason(exc)}")
    except ValueError as exc:
        return _fail(f"cannot export {args.file}: {exc}")
    if verdict is not Verdict.INTACT and not args.force:
        why = source.get("problem") or "it is not a signed warroom recording"
        print(
            f"warroom: refusing to export {args.file}: it does not verify "
            f"({source['verdict']}): {why}\nRun 'warroom verify {args.file}' for every "
            "problem; --force exports it anyway, with this verdict in the export's header.",
            file=sys.stderr,
        )
        return int(verdict)
    try:
        if to_stdout:
            count = export(args.file, sys.stdout, args.format, args.input, source)
        else:
            with args.output.open("w", encoding="utf-8") as out:
                count = export(args.file, out, args.format, args.input, source)
    except BrokenPipeError:
        raise  # "| head" stopped reading: the command line ends quietly
    except OSError as exc:
        return _fail(f"cannot export {args.file}: {os_reason(exc)}")
    except CastError as exc:
        return _fail(f"cannot export {args.file}: {exc}")
    if str(args.output) != "-":
        print(f"wrote {args.output} ({args.format}, {count} events)", file=sys.stderr)
    return EXIT_OK


def os_reason(exc: OSError) -> str:
    """``No such file or directory``, not ``[Errno 2] No such file or directory: 'x'``."""
    return exc.strerror.lower() if exc.strerror else str(exc)
