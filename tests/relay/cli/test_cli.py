"""The ``warroom`` command as users run it: real processes, real sockets."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay.cli.arguments import Parser
from relay.config import RelayConfig
from relay.evidence.audit import AuditLog
from relay.net.server import Relay
from relay.trust.identity import parse_join_target
from relay.trust.keys import SigningKey
from tests.harness import read_until
from tests.tools import stop
from tui.client import RelayClient

WARROOM = [sys.executable, "-m", "tui.cli"]
INVITE_LINE = re.compile(
    r"^(lead|viewer|reviewer): warroom join (ws://127\.0\.0\.1:\d+/invite/\S+)$"
)


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WARROOM, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _verbs() -> list[str]:
    from tui.cli import build_parser

    parser = build_parser()
    assert isinstance(parser, Parser)
    return sorted(parser.verbs())


def test_the_verbs_users_expect_exist() -> None:
    assert set(_verbs()) >= {
        "relay",
        "demo",
        "login",
        "join",
        "grant",
        "revoke",
        "invite",
        "request",
        "end",
        "audit",
        "verify",
        "export",
        "replay",
    }


@pytest.mark.parametrize("verb", [[], *([v] for v in _verbs())])
def test_every_verb_has_help(verb: list[str]) -> None:
    done = run(*verb, "--help")
    assert done.returncode == 0 and "usage: warroom" in done.stdout


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    config = _relay_config(tmp_path, asyncssh.generate_private_key("ssh-ed25519"), tls=False)
    config.write_text(config.read_text().replace('user = "x"', "user = 42"))
    done = run("relay", "--config", str(config))
    assert done.returncode == 2
    assert "relay.toml: targets.db.user:" in done.stderr


def _read_invites(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    invites: dict[str, str] = {}
    while len(invites) < 3:
        line = process.stdout.readline()
        assert line, f"demo exited early: {process.stderr.read() if process.stderr else ''}"
        match = INVITE_LINE.match(line.rstrip("\n"))
        if match:
            invites[match.group(1)] = match.group(2)
    return invites


async def test_headless_demo_prints_three_invites_serves_them_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        invites = await asyncio.to_thread(_read_invites, process)
        assert set(invites) == {"lead", "viewer", "reviewer"}
        clients = {}
        for role, url in invites.items():
            target = parse_join_target(url)
            client = RelayClient(target.url)
            await client.connect()
            who = await client.auth_invite(target.invite or "")
            assert who["role"] == role and who["session"] == "demo"
            await client.join("demo")
            clients[role] = client
        await clients["lead"].send_input(b"echo DEMO-$((6*7))\r")
        await read_until(clients["viewer"], b"DEMO-42")
        for client in clients.values():
            await client.close()
    finally:
        code = await stop(process)
    assert code == 0
    recordings = list((data / "recordings").glob("*.cast"))
    assert len(recordings) == 1 and "#warroom-seal" in recordings[0].read_text()
    assert list((data / "audit").glob("*.log"))
    assert (data / "keys" / "relay_ed25519").exists()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _relay_config(tmp_path: Path, user_key: asyncssh.SSHKey, tls: bool) -> Path:
    lines = [
        "[relay]",
        f'listen = "127.0.0.1:{_free_port()}"',
        'name = "test-relay"',
        f'data_dir = "{tmp_path / "data"}"',
    ]
    if tls:
        cert, key = _self_signed(tmp_path)
        lines += [f'tls_cert = "{cert}"', f'tls_key = "{key}"']
    target_key = tmp_path / "target_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(target_key))
    public = user_key.export_public_key("openssh").decode().strip()
    lines += [
        "[targets.db]",
        'host = "127.0.0.1"',
        f'key = "{target_key}"',
        "insecure_accept_any_host_key = true",
        'user = "x"',
        "[users.alice]",
        f'keys = ["{public}"]',
        'roles = ["lead"]',
    ]
    path = tmp_path / "relay.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_relay_serves_wss_with_the_configured_certificate(tmp_path: Path) -> None:
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    config_path = _relay_config(tmp_path, user_key, tls=True)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        match = re.search(r"wss://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        context.check_hostname = False
        client = RelayClient(f"wss://127.0.0.1:{match.group(1)}", ssl_context=context)
        await client.connect()
        who = await client.auth_ssh_key("alice", user_key)
        assert who["user"] == "alice" and who["role"] == "lead"
        assert [t["name"] for t in (await client.list_sessions())["targets"]] == ["db"]
        await client.close()
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(process.wait, 30)
        assert code == 0, process.stderr.read() if process.stderr else ""


def test_print_key_prints_the_public_key(tmp_path: Path) -> None:
    config = _relay_config(tmp_path, asyncssh.generate_private_key("ssh-ed25519"), tls=False)
    done = run("relay", "--config", str(config), "--print-key")
    assert done.returncode == 0
    assert done.stdout.startswith("warroom-ed25519:")
    stored = SigningKey.load_or_create(tmp_path / "data" / "keys").public.text()
    assert done.stdout.strip() == stored


async def test_plain_ws_off_loopback_needs_insecure(tmp_path: Path) -> None:
    signing = SigningKey.generate()
    audit = AuditLog(tmp_path / "audit", signing)
    config = RelayConfig(listen_host="0.0.0.0", listen_port=0, data_dir=tmp_path)
    with pytest.raises(ValueError, match="--insecure"):
        await Relay(config, signing, audit).start()
    relay = Relay(config, signing, audit)
    await relay.start(insecure=True)
    await relay.close()
    audit.close("test")


def test_unknown_verb_and_missing_arguments_are_clear() -> None:
    done = run("launch")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    done = run("relay")
    assert done.returncode == 2 and "--config" in done.stderr


def test_env_is_not_needed_for_help() -> None:
    env = {"PATH": os.environ.get("PATH", "")}
    done = subprocess.run([*WARROOM, "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("warroom ")
