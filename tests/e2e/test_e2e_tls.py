"""``warroom login``, ``join`` and ``replay`` over ``wss://``, in real terminals.

A ``warroom relay`` process serves TLS with a certificate from a CA made in
the test (:mod:`tests.certs`), in front of a real OpenSSH sshd. The CLI
reaches it with ``--ca-cert``; without it, each verb fails in one line that
says the certificate is not trusted and what to do.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from tests.certs import TestCA
from tests.e2e.test_e2e_tmux import Tmux, _free_port, wait_for
from tests.sshd import SshdServer
from tests.tools import require_tool
from tui.client import RelayClient
from tui.dial import CA_CERT_HINT

WARROOM = [sys.executable, "-m", "tui.cli"]


@dataclass
class TlsRelay:
    url: str
    ca: Path
    key: Path  # alice's SSH key
    data: Path


def _config(tmp_path: Path, sshd: SshdServer, cert: Path, key: Path, user_key: Path) -> Path:
    public = asyncssh.read_private_key(str(user_key)).export_public_key("openssh").decode().strip()
    lines = [
        "[relay]",
        f'listen = "127.0.0.1:{_free_port()}"',
        'name = "tls-e2e"',
        f'data_dir = "{tmp_path / "data"}"',
        f'tls_cert = "{cert}"',
        f'tls_key = "{key}"',
        "[targets.db]",
        f'host = "{sshd.host}"',
        f"port = {sshd.port}",
        f'user = "{sshd.user}"',
        f'key = "{sshd.client_key_path}"',
        f'known_hosts = "{sshd.known_hosts_path}"',
        "[users.alice]",
        f'keys = ["{public}"]',
        'roles = ["lead"]',
    ]
    path = tmp_path / "relay.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tls_relay(tmp_path: Path, sshd: SshdServer) -> Iterator[TlsRelay]:
    ca = TestCA(tmp_path / "pki")
    server = ca.issue("relay")
    user_key = tmp_path / "alice_ed25519"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(user_key))
    user_key.chmod(0o600)
    config = _config(tmp_path, sshd, server.cert, server.key, user_key)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"(wss://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        yield TlsRelay(match.group(1), ca.pem, user_key, tmp_path / "data")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _open_session(relay: TlsRelay) -> str:
    async def run() -> str:
        client = RelayClient(relay.url, ca_cert=relay.ca)
        await client.connect()
        await client.auth_ssh_key("alice", asyncssh.read_private_key(str(relay.key)))
        session = await client.open("db", "INC-1: the TLS path")
        await client.close()
        return session

    return asyncio.run(run())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    return {**env, "PYTHONUNBUFFERED": "1"}


def test_login_join_and_replay_over_wss_in_real_terminals(
    tls_relay: TlsRelay, tmp_path: Path
) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    session = _open_session(tls_relay)
    url, ca, key = tls_relay.url, str(tls_relay.ca), str(tls_relay.key)
    tmux = Tmux(f"warroom-tls-{os.getpid()}")
    try:
        tmux.window(
            "login",
            [*WARROOM, "login", url, "--user", "alice", "--key", key, "--ca-cert", ca],
            first=True,
        )
        wait_for(
            lambda: f"logged in to {url} as alice (lead)" in tmux.capture("login"),
            "the login over wss",
            show=lambda: tmux.capture("login"),
        )

        join = [*WARROOM, "join", f"{url}/s/{session}", "--user", "alice", "--key", key]
        tmux.window("join", [*join, "--ca-cert", ca])
        wait_for(
            lambda: "DRIVING" in tmux.capture("join"),
            "the lead to drive",
            show=lambda: tmux.capture("join"),
        )
        tmux.type("join", "echo tls-says-$((6*7))")
        tmux.keys("join", "Enter")
        wait_for(
            lambda: "tls-says-42" in tmux.capture("join"),
            "the shell's answer over wss",
            show=lambda: tmux.capture("join"),
        )

        ended = subprocess.run(
            [*WARROOM, "end", session, "--relay", url, "--login-user", "alice", "--key", key,
             "--ca-cert", ca, "--reason", "done"],
            capture_output=True, text=True, timeout=60, env=_env(), check=False,
        )  # fmt: skip
        assert ended.returncode == 0, ended.stderr
        assert ended.stdout == f"session {session} ended: done\n"

        saved = tmp_path / "fetched"
        tmux.window(
            "replay",
            [*WARROOM, "replay", url, session, "--user", "alice", "--ssh-key", key,
             "--ca-cert", ca, "--save-to", str(saved), "--at", "3600"],
        )  # fmt: skip
        wait_for(
            lambda: "tls-says-42" in tmux.capture("replay"),
            "the replay of the fetched recording",
            show=lambda: tmux.capture("replay"),
        )
        assert [p.name for p in saved.glob("*.cast")]
    finally:
        tmux.kill()


@pytest.mark.parametrize("verb", ["login", "join", "replay", "grant"])
def test_an_untrusted_certificate_fails_in_one_clear_line(tls_relay: TlsRelay, verb: str) -> None:
    url, key = tls_relay.url, str(tls_relay.key)
    args = {
        "login": ["login", url, "--user", "alice", "--key", key],
        "join": ["join", url, "--user", "alice", "--key", key],
        "replay": ["replay", url, "demo", "--user", "alice", "--ssh-key", key],
        "grant": ["grant", "bob", "--role", "viewer", "--ttl", "5m", "--relay", url,
                  "--login-user", "alice", "--key", key],
    }[verb]  # fmt: skip
    done = subprocess.run(
        [*WARROOM, *args], capture_output=True, text=True, timeout=60, env=_env(), check=False
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    reason = (
        f"the certificate of {url} is not trusted (unable to get local issuer certificate): "
        f"{CA_CERT_HINT}"
    )
    assert lines[0].startswith("warroom: ") and lines[0].endswith(reason), lines[0]


def test_ssl_cert_file_is_trusted_like_ca_cert(tls_relay: TlsRelay) -> None:
    done = subprocess.run(
        [*WARROOM, "login", tls_relay.url, "--user", "alice", "--key", str(tls_relay.key)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(), "SSL_CERT_FILE": str(tls_relay.ca)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"logged in to {tls_relay.url} as alice (lead)" in done.stderr


def test_the_demo_serves_wss_with_a_ca_of_its_own(tmp_path: Path) -> None:
    """README: warroom demo --headless --tls, then paste the printed commands."""
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    data = tmp_path / "demo"
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--tls", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    tmux = Tmux(f"warroom-tls-demo-{os.getpid()}")
    try:
        assert process.stdout is not None
        commands: dict[str, list[str]] = {}
        while len(commands) < 3:
            line = process.stdout.readline()
            assert line, "the demo exited early"
            role, sep, command = line.strip().partition(": warroom join ")
            if sep:
                commands[role] = command.split()
        ca = data / "keys" / "tls" / "warroom-demo-CA.pem"
        for role, command in commands.items():
            assert command[0].startswith("wss://127.0.0.1:") and "/invite/" in command[0], role
            assert command[1:] == ["--ca-cert", str(ca)]

        # without the CA: refused in one line
        refused = subprocess.run(
            [*WARROOM, "join", commands["viewer"][0]],
            capture_output=True, text=True, timeout=60, env=_env(), check=False,
        )  # fmt: skip
        assert refused.returncode == 2 and "is not trusted" in refused.stderr
        assert len(refused.stderr.splitlines()) == 1

        tmux.window("lead", [*WARROOM, "join", *commands["lead"]], first=True)
        tmux.window("viewer", [*WARROOM, "join", *commands["viewer"], "--name", "vic"])

        def both() -> str:
            return f"{tmux.capture('lead')}\n---\n{tmux.capture('viewer')}"

        wait_for(lambda: "DRIVING" in tmux.capture("lead"), "the lead to drive", show=both)
        tmux.type("lead", "echo over-tls-$((6*7))")
        tmux.keys("lead", "Enter")
        wait_for(lambda: "over-tls-42" in tmux.capture("viewer"), "the viewer to see it", show=both)
    finally:
        tmux.kill()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
