"""The relay's SSH side against a real OpenSSH sshd: which cipher it decrypts with."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from relay.net.ssh import CIPHERS, READ_PIECE, TargetAddress, TargetShell
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


async def test_a_flood_read_in_pieces_arrives_byte_exact(sshd: SshdServer, tmp_path: Path) -> None:
    """The relay hands asyncssh each socket read in pieces (``READ_PIECE``); a reader
    slower than the target makes those reads large, and every byte must still arrive
    once and in order."""
    lines = b"".join(b"%07d %s\n" % (n, b"abcdefghij" * (n % 13)) for n in range(60_000))
    flood = tmp_path / "flood.txt"
    flood.write_bytes(lines)
    expected = lines.replace(b"\n", b"\r\n")
    assert len(expected) > 40 * READ_PIECE
    output = bytearray()
    done = asyncio.Event()

    def slow_reader(data: bytes) -> None:
        output.extend(data)
        time.sleep(0.002)  # the target fills the socket meanwhile: the next read is large
        if b"FLOOD_42_END" in output[-64:]:
            done.set()  # (or the connection broke: on_exit)

    shell = await TargetShell.open(_address(sshd), 80, 24, slow_reader, lambda status: done.set())
    try:
        shell.write(b"stty -echo; cat " + str(flood).encode() + b"; echo FLOOD_$((6*7))_END\r")
        async with asyncio.timeout(120):
            await done.wait()
    finally:
        await shell.close()
    start = bytes(output).find(b"0000000 ")
    assert start >= 0
    assert bytes(output)[start : start + len(expected)] == expected
    assert bytes(output)[start + len(expected) :].startswith(b"FLOOD_42_END")
