"""What ``warroom`` prints when something is wrong: one line, no internals, no traceback.

Every case runs the real command as a subprocess and checks the exit code
and the exact text, so a traceback, an error code such as ``auth_failed:``
or a second line of noise fails the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from relay.cli.arguments import Parser
from relay.core.errors import ErrorCode
from relay.trust.keys import SigningKey
from tests.recordings import sample_session
from tests.relay.cli.test_cli import _relay_config

WARROOM = [sys.executable, "-m", "tui.cli"]


def run(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_TOKEN"}
    return subprocess.run(
        [*WARROOM, *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert (done.returncode, done.stderr) == (code, f"warroom: {text}\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- reaching the relay


def test_a_relay_that_is_not_running() -> None:
    port = _closed_port()
    url = f"ws://127.0.0.1:{port}"
    reason = f"cannot reach the relay at {url}: connection refused (is the relay running?)"
    one_line(run("login", url, "--user", "alice"), 2, f"login failed: {reason}")
    one_line(run("join", url), 2, reason)
    one_line(run("grant", "bob", "--role", "viewer", "--ttl", "5m", "--relay", url), 2, reason)


def test_an_unknown_host_is_named() -> None:
    one_line(
        run("join", "ws://no-such-host.invalid:8422"),
        2,
        "cannot reach the relay at ws://no-such-host.invalid:8422: "
        "unknown host 'no-such-host.invalid'",
    )


@dataclass
class LiveRelay:
    url: str
    key: Path


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRelay]:
    tmp = tmp_path_factory.mktemp("relay")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp / "alice_ed25519"
    user_key.write_private_key(str(key_path))
    config = _relay_config(tmp, user_key, tls=False)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"(ws://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        yield LiveRelay(match.group(1), key_path)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_refusals_read_as_sentences_without_internal_codes(relay: LiveRelay) -> None:
    as_alice = ("--relay", relay.url, "--login-user", "alice", "--key", str(relay.key))
    # auth_failed
    one_line(
        run("login", relay.url, "--user", "mallory", "--key", str(relay.key)),
        2,
        "login failed: no key of a user 'mallory' on this relay signed the challenge",
    )
    # no_such_session
    one_line(run("end", "nosuch", *as_alice), 2, "no open session 'nosuch'")
    # access: the wording is the access rules' own; here only its form is checked
    done = run("grant", "alice", "--role", "driver", "--ttl", "30d", *as_alice)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("warroom: ") and "720 h" in done.stderr
    codes = {code.value for code in ErrorCode}
    assert done.stderr.split(" ")[1].rstrip(":") not in codes


def test_revoking_nobody_is_an_error(relay: LiveRelay) -> None:
    as_alice = ("--relay", relay.url, "--login-user", "alice", "--key", str(relay.key))
    one_line(
        run("revoke", "nobody", *as_alice),
        2,
        "no user 'nobody' on this relay, and no guest of that name holds anything",
    )
    one_line(run("revoke", "alice", "--session", "s1", *as_alice), 2, "alice holds no grants on s1")
    one_line(run("revoke", "alice", *as_alice), 2, "you cannot revoke yourself; another lead can")


# ---------------------------------------------------------------- arguments


def usage_error(done: subprocess.CompletedProcess[str], verb: str, text: str) -> None:
    assert done.returncode == 2
    assert done.stderr == f"warroom {verb}: {text} (see 'warroom {verb} --help')\n"


def test_durations_name_the_flag_and_say_what_is_wrong() -> None:
    hint = "a duration such as 90s, 30m, 8h or 2d"
    grant = ("grant", "bob", "--role", "driver")
    usage_error(run(*grant, "--ttl", "99y"), "grant", f"argument --ttl: expected {hint}, got '99y'")
    usage_error(
        run(*grant, "--ttl", "-5m"), "grant", f"argument --ttl: -5m is negative: give {hint}"
    )
    usage_error(run(*grant, "--ttl=-5m"), "grant", f"argument --ttl: -5m is negative: give {hint}")
    usage_error(
        run(*grant, "--ttl", "0"), "grant", f"argument --ttl: 0 is no time at all: give {hint}"
    )
    usage_error(
        run("invite", "--role", "viewer", "--session", "s", "--ttl", "forever"),
        "invite",
        f"argument --ttl: expected {hint}, got 'forever'",
    )


def test_audit_since_takes_durations_dates_and_says_what_it_wants(tmp_path: Path) -> None:
    usage_error(
        run("audit", "--since", "yesterday", "--data-dir", str(tmp_path)),
        "audit",
        "argument --since: expected how long ago (2h, 3d), a date or time (2024-05-01, "
        "2024-05-01T09:30) or a unix time, got 'yesterday'",
    )
    for good in ("2h", "2024-05-01", "2024-05-01T09:30", "1700000000"):
        done = run("audit", "--since", good, "--data-dir", str(tmp_path))
        one_line(done, 2, f"no audit log in {tmp_path / 'audit'}")


def test_warroom_alone_prints_help() -> None:
    done = run()
    assert done.returncode == 2 and done.stderr == ""
    assert done.stdout.startswith("usage: warroom")
    for verb in ("join", "login", "replay", "grant"):
        assert f"    {verb}" in done.stdout


def test_an_unknown_verb_is_one_line() -> None:
    done = run("launch")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("warroom: argument VERB: invalid choice: 'launch'")


def test_every_verb_and_every_argument_has_a_help_line() -> None:
    from tui.cli import build_parser

    parser = build_parser()
    assert isinstance(parser, Parser)
    missing = []
    for verb, (shown, sub) in parser.verbs().items():
        if not shown:
            missing.append(verb)
        assert isinstance(sub, Parser)
        missing += [f"{verb} {name}" for name, explained in sub.arguments() if not explained]
    assert missing == []
    # and they reach the user
    done = run("grant", "--help")
    assert "who gets access" in done.stdout and "viewer watches" in done.stdout


# ---------------------------------------------------------------- files


@pytest.fixture
def cast(tmp_path: Path) -> Path:
    path = sample_session(tmp_path / "s1.cast", SigningKey.generate())
    return path


def test_export_to_a_missing_directory_names_it(cast: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    one_line(
        run("export", str(cast), "-o", str(missing / "out.cast")),
        2,
        f"cannot write {missing / 'out.cast'}: the directory {missing} does not exist",
    )


def _into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe nobody reads any more, as ``| head`` leaves it."""
    read, write = os.pipe()
    os.close(read)
    try:
        return run(*args, stdout=write)
    finally:
        os.close(write)


def test_output_into_a_closed_pipe_ends_quietly(cast: Path) -> None:
    for args in (("replay", str(cast), "--dump", "--at", "9"), ("export", str(cast), "-o", "-")):
        done = _into_a_closed_pipe(*args)
        assert (done.returncode, done.stderr) == (0, ""), args


def test_verify_refuses_files_that_are_not_recordings(tmp_path: Path, cast: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n")
    one_line(
        run("verify", str(text)),
        2,
        f"{text} is not a warroom recording or audit log (line 1 is not a warroom header)",
    )
    empty = tmp_path / "empty.cast"
    empty.write_bytes(b"")
    one_line(
        run("verify", str(empty)),
        2,
        f"{empty} is empty: it is not a warroom recording or audit log",
    )
    plain = tmp_path / "plain.cast"
    assert run("export", str(cast), "-o", str(plain)).returncode == 0
    one_line(
        run("verify", str(plain)),
        2,
        f"{plain} is a plain asciicast file: it carries no signatures to verify "
        "(warroom export leaves them out)",
    )


def test_verify_with_a_wrong_key_says_so_in_one_line(cast: Path) -> None:
    other = SigningKey.generate().public.text()
    done = run("verify", str(cast), "--key", other)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"{cast}: TAMPERED at line 3: wrong-key. The checkpoint at")
    assert f"not by the given key ({other})" in done.stderr
    one_line(
        run("verify", str(cast), "--key", "/no/such.pub"),
        2,
        "--key: cannot read /no/such.pub: No such file or directory",
    )
    one_line(
        run("replay", str(cast), "--key", "/no/such.pub"),
        2,
        "--key: cannot read /no/such.pub: No such file or directory",
    )
