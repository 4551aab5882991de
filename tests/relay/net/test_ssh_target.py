"""The relay's SSH side against a real OpenSSH sshd: which cipher it decrypts with."""

from __future__ import annotations

import asyncio
from pathlib import Path

from relay.net.ssh import CIPHERS, TargetAddress, TargetShell
from tests.sshd import SshdServer


def _address(server: SshdServer) -> TargetAddress:
    return TargetAddress(
        "sshd",
        server.host,
        server.port,
        server.user,
        server.client_key_path,
        server.known_hosts_path,
    )


async def _echo(server: SshdServer) -> tuple[str, bytes]:
    """Open a shell, run a command; the cipher negotiated and what the shell printed."""
    output: list[bytes] = []
    exited = asyncio.Event()
    shell = await TargetShell.open(
        _address(server), 80, 24, output.append, lambda status: exited.set()
    )
    try:
        shell.write(b"echo CIPHER_$((6*7))_OK\r")
        async with asyncio.timeout(20):
            while b"CIPHER_42_OK" not in b"".join(output):
                await asyncio.sleep(0.02)
        return shell.cipher, b"".join(output)
    finally:
        await shell.close()


async def test_the_relay_reads_the_target_with_aes_gcm(sshd: SshdServer) -> None:
    """OpenSSH offers AES-GCM by default, and the relay prefers it (cheaper per packet)."""
    cipher, output = await _echo(sshd)
    assert cipher == "aes256-gcm@openssh.com"
    assert b"CIPHER_42_OK" in output
    assert CIPHERS[0] == "aes256-gcm@openssh.com"
    assert "chacha20-poly1305@openssh.com" in CIPHERS  # still offered


async def test_a_target_that_allows_only_chacha20_still_connects(tmp_path: Path) -> None:
    with SshdServer(tmp_path, options="Ciphers chacha20-poly1305@openssh.com\n") as server:
        cipher, output = await _echo(server)
    assert cipher == "chacha20-poly1305@openssh.com"
    assert b"CIPHER_42_OK" in output
