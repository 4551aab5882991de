"""A throwaway certificate authority for ``warroom demo --tls`` (and the tests).

A relay in production has a certificate from the organisation's CA or a
public one. The demo, which runs on loopback, makes its own: a CA and a
server certificate for ``localhost`` and ``127.0.0.1`` signed by it, kept
under the data dir and reused on the next start. Clients trust the CA with
``--ca-cert`` exactly as they would trust a private CA in production, so the
demo takes the same verified path (chain, hostname, expiry) as a real
``wss://`` relay; nothing is ever "accepted anyway".
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("localhost", "127.0.0.1")
CA_DAYS = 365
SERVER_DAYS = 90


@dataclass(frozen=True)
class ServerCert:
    """A server certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _sans(names: tuple[str, ...]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    return sans


class LocalCA:
    """A certificate authority whose certificate is ``pem`` (what clients trust)."""

    def __init__(self, directory: Path, name: str = "warroom demo CA") -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        now = datetime.datetime.now(datetime.UTC)
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = directory / f"{name.replace(' ', '-')}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, names: tuple[str, ...] = LOOPBACK_NAMES) -> ServerCert:
        """A server certificate for ``names`` (DNS names or IP addresses), signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_sans(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        paths = ServerCert(self.directory / f"{stem}.pem", self.directory / f"{stem}.key")
        paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(paths.key, key)
        return paths


def demo_certificate(directory: Path) -> tuple[ServerCert, Path]:
    """The demo relay's certificate and the CA to trust, made once and kept in ``directory``.

    Made again when missing or within a week of expiring.
    """
    ca_pem = directory / "warroom-demo-CA.pem"
    server = ServerCert(directory / "demo-relay.pem", directory / "demo-relay.key")
    if ca_pem.exists() and server.cert.exists() and server.key.exists():
        cert = x509.load_pem_x509_certificate(server.cert.read_bytes())
        left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        if left > datetime.timedelta(days=7):
            return server, ca_pem
    ca = LocalCA(directory, "warroom demo CA")
    return ca.issue("demo-relay"), ca.pem
