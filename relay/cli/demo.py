"""``warroom demo``: a relay, a sandbox target and an open session, with no configuration.

Everything a real deployment configures is generated under the data dir
instead: the relay's signing key, the key the relay logs in to the target
with, and the sandbox's host key (pinned in a ``known_hosts`` file, so the
demo takes the same strict host-key path as production).

The sandbox's shell runs as the user who started the demo, but in a
throwaway home (``<data dir>/sandbox-home``, emptied at every start): what
people type in the demo lands there, not in the real home's dotfiles and
history. It is no isolation (the shell can still reach everything the user
can), and the banner says so.

The relay's state (``<data dir>/state.db``: invites, tokens, grants, the
session directory) also starts empty at every start. That is what lets each
demo open its session under the same id, ``demo``, although a relay never
reuses a session id: invites and tokens of an earlier demo are unknown to
the fresh state, so an old link is refused rather than let into the new
session.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from relay.cli.sandbox import SandboxTarget
from relay.config import RelayConfig, TargetConfig
from relay.core.roles import Role
from relay.evidence.audit import AuditLog
from relay.evidence.recording import recorder_factory
from relay.net.host import GUEST_PREFIX
from relay.net.server import Relay
from relay.store.sqlite import FILE_NAME as STATE_FILE
from relay.trust.certificates import demo_certificate
from relay.trust.keys import SigningKey

SESSION_ID = "demo"
INVITE_TTL = 12 * 3600.0
TARGET_KEY_FILE = "target_client_ed25519"
SANDBOX_HOME = "sandbox-home"
# A prompt that says where the shell is, for bash (login or not) and zsh.
HOME_FILES = {
    ".bashrc": "PS1='sandbox:\\w\\$ '\n",
    ".bash_profile": ". ~/.bashrc\n",
    ".zshrc": "PS1='sandbox:%~%# '\n",
    "README": (
        "The warroom demo's throwaway home: emptied each time 'warroom demo' starts.\n"
        "The shell runs as you, with your permissions: it is not isolated.\n"
    ),
}


@dataclass
class Demo:
    relay: Relay
    sandbox: SandboxTarget
    audit: AuditLog
    home: Path
    invites: dict[Role, str] = field(default_factory=dict)
    ca_cert: Path | None = None  # with --tls: the demo CA that clients trust

    def commands(self) -> list[str]:
        """One ready-to-paste command per invite, in the form ``lead: warroom join ...``."""
        trust = f" --ca-cert {self.ca_cert}" if self.ca_cert is not None else ""
        return [f"{role.value}: warroom join {url}{trust}" for role, url in self.invites.items()]

    async def close(self) -> None:
        await self.relay.close("the demo is shutting down")
        self.audit.close("demo stopped")
        await self.sandbox.close()


def _target_key(keys_dir: Path) -> tuple[asyncssh.SSHKey, Path]:
    """The relay's login key for the sandbox, generated once and kept (mode 0600)."""
    path = keys_dir / TARGET_KEY_FILE
    if path.exists():
        return asyncssh.read_private_key(str(path)), path
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    return key, path


def fresh_home(data_dir: Path) -> Path:
    """An empty home for the sandbox's shell, with a prompt that says where it is."""
    home = data_dir / SANDBOX_HOME
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, mode=0o700)
    for name, text in HOME_FILES.items():
        (home / name).write_text(text)
    return home


async def start_demo(
    data_dir: Path, port: int = 0, cols: int = 80, rows: int = 24, tls: bool = False
) -> Demo:
    """Start everything and open the ``demo`` session; the caller owns ``close()``.

    With ``tls`` the relay serves ``wss://`` with a certificate from a CA made
    for the demo (:func:`relay.trust.certificates.demo_certificate`).
    """
    keys_dir = data_dir / "keys"
    server_cert, ca_cert = demo_certificate(keys_dir / "tls") if tls else (None, None)
    signing = SigningKey.load_or_create(keys_dir)
    target_key, target_key_path = _target_key(keys_dir)
    home = fresh_home(data_dir)
    sandbox = SandboxTarget(target_key, env={"HOME": str(home)})
    await sandbox.start()
    known_hosts = keys_dir / "sandbox_known_hosts"
    sandbox.write_known_hosts(known_hosts)
    config = RelayConfig(
        listen_host="127.0.0.1",
        listen_port=port,
        name="warroom-demo",
        data_dir=data_dir,
        tls_cert=server_cert.cert if server_cert else None,
        tls_key=server_cert.key if server_cert else None,
        targets={
            "sandbox": TargetConfig(
                name="sandbox",
                host=sandbox.host,
                port=sandbox.port,
                user=os.environ.get("USER", "demo"),
                key=target_key_path,
                known_hosts=known_hosts,
                description="your shell on this machine, in a throwaway home",
            )
        },
    )
    audit = AuditLog(data_dir / "audit", signing)
    recorder = recorder_factory(data_dir / "recordings", signing, audit=audit)
    for stale in (STATE_FILE, f"{STATE_FILE}-wal", f"{STATE_FILE}-shm"):
        (data_dir / stale).unlink(missing_ok=True)
    relay = Relay(config, signing, audit, recorder)
    await relay.start()
    demo = Demo(relay, sandbox, audit, home, ca_cert=ca_cert)
    try:
        # the lead comes in with an invite, so as a guest: guests' names are "guest:<name>"
        await relay.open_session(
            "sandbox", f"{GUEST_PREFIX}lead", "warroom demo", SESSION_ID, cols, rows
        )
        for role in (Role.LEAD, Role.VIEWER, Role.REVIEWER):
            demo.invites[role] = await relay.invite(role, SESSION_ID, INVITE_TTL, role.value)
    except BaseException:
        await demo.close()
        raise
    return demo
