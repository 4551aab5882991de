"""A real certificate chain for TLS tests: a CA, and server certificates it signs.

The same generator as ``warroom demo --tls`` (:mod:`relay.trust.certificates`,
built on ``cryptography``), so a test exercises the chain verification a
client meets in production: the system store does not know the CA,
``--ca-cert`` (or ``SSL_CERT_FILE``) makes it trusted, and the hostname is
checked against the certificate's subject alternative names.
"""

from __future__ import annotations

from pathlib import Path

from relay.trust.certificates import LOOPBACK_NAMES, LocalCA, ServerCert

__all__ = ["LOOPBACK_NAMES", "ServerCert", "TestCA"]


class TestCA(LocalCA):
    """A CA living in ``directory``; ``pem`` is what clients trust."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, directory: Path, name: str = "warroom test CA") -> None:
        super().__init__(directory, name)
