"""Reaching a relay over TLS with a real certificate chain, and one-line reasons for failures.

The relay serves ``wss://`` with a server certificate signed by a CA made in
the test (:mod:`tests.certs`); clients trust the system CAs by default, that
CA with ``ca_cert`` or ``SSL_CERT_FILE``, and say in one sentence what is
wrong otherwise.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tests.certs import TestCA
from tests.harness import running_relay
from tui.client import RelayClient
from tui.dial import CA_CERT_HINT, Unreachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _dial(url: str, **kwargs: object) -> Unreachable:
    client = RelayClient(url, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Unreachable) as caught:
        await client.connect()
    return caught.value


async def test_wss_relay_with_a_private_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    ca = TestCA(tmp_path / "pki")
    server = ca.issue("relay")
    async with running_relay(tmp_path, tls=(server.cert, server.key, ca.pem)) as h:
        url = h.url
        assert url.startswith("wss://127.0.0.1:")

        # --ca-cert: the whole protocol works over the verified connection
        alice = await h.login("alice")
        assert [t["name"] for t in (await alice.list_sessions())["targets"]] == ["sandbox"]

        # SSL_CERT_FILE: OpenSSL reads it instead of the system bundle
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem))
        client = RelayClient(url)
        assert (await client.connect())["type"] == "hello"
        await client.close()
        monkeypatch.delenv("SSL_CERT_FILE")

        # The system CAs alone do not know this CA: refused, saying what to do
        refused = await _dial(url)
        assert str(refused) == (
            f"the certificate of {url} is not trusted "
            f"(unable to get local issuer certificate): {CA_CERT_HINT}"
        )
        assert refused.fatal

        # Another CA is no better
        other = TestCA(tmp_path / "other", name="another CA")
        refused = await _dial(url, ca_cert=other.pem)
        assert "is not trusted" in str(refused) and refused.fatal

        # ws:// to a TLS relay
        plain = url.replace("wss://", "ws://")
        refused = await _dial(plain)
        assert str(refused) == (
            f"{plain} did not answer as a warroom relay; if the relay serves TLS, use a wss:// URL"
        )


async def test_a_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    server = ca.issue("relay", names=("relay.example.com",))
    async with running_relay(tmp_path, tls=(server.cert, server.key, ca.pem)) as h:
        refused = await _dial(h.url, ca_cert=ca.pem)
        assert str(refused) == (
            f"the certificate of {h.url} is not valid for '127.0.0.1': "
            "dial the relay by a name its certificate lists"
        )
        assert refused.fatal


async def test_wss_to_a_plain_relay_says_so(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as h:
        url = h.url.replace("ws://", "wss://")
        refused = await _dial(url)
        assert str(refused).startswith(f"cannot reach the relay at {url}: the TLS handshake failed")
        assert str(refused).endswith("if the relay serves plain ws://, use a ws:// URL")


async def test_ca_cert_file_problems_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    refused = await _dial("wss://127.0.0.1:1", ca_cert=missing)
    assert str(refused) == f"--ca-cert: {missing} does not exist"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    refused = await _dial("wss://127.0.0.1:1", ca_cert=garbage)
    assert str(refused) == f"--ca-cert: cannot use {garbage}: not a PEM certificate file"


async def test_network_failures_in_one_line() -> None:
    port = _closed_port()
    refused = await _dial(f"ws://127.0.0.1:{port}")
    assert str(refused) == (
        f"cannot reach the relay at ws://127.0.0.1:{port}: connection refused "
        "(is the relay running?)"
    )
    assert not refused.fatal  # a relay restarting is worth waiting for
    unknown = await _dial("ws://no-such-host.invalid:8422")
    assert str(unknown) == (
        "cannot reach the relay at ws://no-such-host.invalid:8422: "
        "unknown host 'no-such-host.invalid'"
    )
    bad = await _dial("http://127.0.0.1:8422")
    assert (
        str(bad)
        == "'http://127.0.0.1:8422' is not a relay URL: use ws://host:port or wss://host:port"
    )


async def test_a_web_server_that_is_not_a_relay() -> None:
    async def not_found(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_found, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        refused = await _dial(f"ws://127.0.0.1:{port}")
        assert (
            str(refused) == f"ws://127.0.0.1:{port} is not a warroom relay (it answered HTTP 404)"
        )
        assert refused.fatal
    finally:
        server.close()
        await server.wait_closed()
