"""Token storage: the OS keyring when there is one, an explicit fallback when not."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest

from relay.trust.identity import parse_join_target
from tests.harness import Harness
from tests.tools import require_tool
from tui import credentials
from tui.client import RelayError
from tui.login import authenticate, login


class DictKeyring(keyring.backend.KeyringBackend):
    """An in-memory backend, standing in for the OS keyring in tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError(username)
        del self.store[(service, username)]


class NoBackend(keyring.backend.KeyringBackend):
    """What keyring does on a machine with no backend at all."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.NoKeyringError("No recommended backend was available.")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.NoKeyringError("No recommended backend was available.")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.NoKeyringError("No recommended backend was available.")


@pytest.fixture
def restore_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv(credentials.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the opt-in file goes here
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def test_token_round_trips_through_the_keyring(restore_keyring: None) -> None:
    backend = DictKeyring()
    keyring.set_keyring(backend)
    credentials.store_token("wss://relay:8422", "wr1.a.b")
    assert backend.store == {("warroom", "wss://relay:8422"): "wr1.a.b"}
    assert credentials.load_token("wss://relay:8422") == "wr1.a.b"
    assert credentials.load_token("wss://other:8422") is None
    credentials.forget_token("wss://relay:8422")
    assert credentials.load_token("wss://relay:8422") is None


def test_without_a_backend_the_message_names_the_fallback(restore_keyring: None) -> None:
    keyring.set_keyring(NoBackend())
    with pytest.raises(credentials.NoKeyring) as info:
        credentials.store_token("wss://relay:8422", "wr1.a.b")
    assert credentials.ENV_VAR in str(info.value)
    assert credentials.load_token("wss://relay:8422") is None


def test_keyrings_own_fail_backend_gets_one_plain_sentence(restore_keyring: None) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(credentials.NoKeyring) as info:
        credentials.store_token("wss://relay:8422", "wr1.a.b")
    message = str(info.value)
    assert "\n" not in message and "recommended" not in message and "keyrings.alt" not in message
    assert "--insecure-storage" in message and str(credentials.token_file()) in message
    assert not credentials.token_file().exists()  # nothing written without asking


@pytest.mark.parametrize("backend", [keyring.backends.fail.Keyring, DictKeyring])
def test_insecure_storage_is_an_explicit_private_file(
    restore_keyring: None, backend: type[keyring.backend.KeyringBackend]
) -> None:
    keyring.set_keyring(backend())
    path = credentials.store_token("wss://relay:8422", "wr1.a.b", insecure_storage=True)
    assert path == credentials.token_file()
    assert path.parent == Path(os.environ["XDG_CONFIG_HOME"]) / "warroom"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert credentials.load_token("wss://relay:8422") == "wr1.a.b"
    # once chosen, later logins (a join refreshing its token) keep using the file
    assert credentials.store_token("wss://other:8422", "wr1.c.d") == path
    assert credentials.load_token("wss://other:8422") == "wr1.c.d"
    credentials.forget_token("wss://relay:8422")
    assert credentials.load_token("wss://relay:8422") is None
    assert credentials.load_token("wss://other:8422") == "wr1.c.d"


def test_with_a_keyring_no_file_is_written(restore_keyring: None) -> None:
    backend = DictKeyring()
    keyring.set_keyring(backend)
    assert credentials.store_token("wss://relay:8422", "wr1.a.b") is None
    assert backend.store == {("warroom", "wss://relay:8422"): "wr1.a.b"}
    assert not credentials.token_file().exists()


async def test_cli_login_without_a_keyring_then_with_insecure_storage(
    harness: Harness, tmp_path: Path
) -> None:
    key_path = tmp_path / "id_alice"
    harness.user_keys["alice"].write_private_key(str(key_path))
    env = {
        **{k: v for k, v in os.environ.items() if k != credentials.ENV_VAR},
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    url = harness.url

    def warroom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    login_args = ("login", url, "--user", "alice", "--key", str(key_path))
    done = await asyncio.to_thread(warroom, *login_args)
    file = tmp_path / "config" / "warroom" / "tokens.json"
    assert done.returncode == 0
    assert done.stderr == (
        f"logged in to {url} as alice (lead); but there is no OS keyring here, so the login "
        "was not saved: run 'warroom login' with --insecure-storage to keep it in "
        f"{file} (readable only by you), or set WARROOM_TOKEN (--print-token prints it)\n"
    )
    done = await asyncio.to_thread(warroom, *login_args, "--insecure-storage")
    assert done.returncode == 0
    assert done.stderr == (
        f"logged in to {url} as alice (lead); the token is in {file} "
        "(plain text, readable only by you)\n"
    )
    assert file.stat().st_mode & 0o777 == 0o600
    # the next verb needs no key: the kept token logs in
    done = await asyncio.to_thread(
        warroom, "grant", "bob", "--role", "viewer", "--ttl", "5m", "--relay", url
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("granted viewer to bob until ")


def test_environment_variable_wins(restore_keyring: None, monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(NoBackend())
    monkeypatch.setenv(credentials.ENV_VAR, "wr1.from.env")
    assert credentials.load_token("wss://relay:8422") == "wr1.from.env"


async def test_login_with_ssh_key_keeps_a_token_that_authenticates(
    restore_keyring: None, harness: Harness, tmp_path: Path
) -> None:
    backend = DictKeyring()
    keyring.set_keyring(backend)
    key_path = tmp_path / "id_alice"
    harness.user_keys["alice"].write_private_key(str(key_path))
    token = await login(harness.url, "alice", key_path)
    assert credentials.load_token(harness.url) == token
    client = await harness.client()
    who = await authenticate(client, parse_join_target(harness.url))  # the stored token
    assert who["user"] == "alice" and who["token"] == token


async def test_login_through_a_real_ssh_agent(harness: Harness, tmp_path: Path) -> None:
    require_tool(shutil.which("ssh-agent") is not None, "ssh-agent is missing (openssh-client)")
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if socket_path.exists():
                break
            await asyncio.sleep(0.05)
        key_path = tmp_path / "id_bob"
        harness.user_keys["bob"].write_private_key(str(key_path))
        key_path.chmod(0o600)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", "-q", str(key_path)], env=env, check=True, timeout=10)
        client = await harness.client()
        who = await client.auth_ssh_agent("bob", str(socket_path))
        assert who["user"] == "bob" and who["role"] == "viewer"
        stranger = await harness.client()
        with pytest.raises(RelayError):
            await stranger.auth_ssh_agent("alice", str(socket_path))  # bob's key is not alice's
    finally:
        agent.terminate()
        agent.wait(5)
