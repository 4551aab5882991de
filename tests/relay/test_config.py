"""The relay config: a full file round-trips, and every mistake names its file and field."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncssh
import pytest

from relay.config import (
    ClusterConfig,
    ConfigError,
    Limits,
    RelayConfig,
    default_data_dir,
    load_config,
    parse_config,
    parse_duration,
)
from relay.core.roles import Role

ALICE_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
BOB_KEY = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key().decode().strip()

VALID = f"""\
[relay]
listen = "127.0.0.1:8422"
name = "warroom"
public_url = "wss://relay.example.com:8422"
data_dir = "data"
tls_cert = "cert.pem"
tls_key = "key.pem"
token_ttl = "8h"

[limits]
max_frame = 2097152
max_input = 32768
chat_length = 500
chat_rate = 3
chat_window = "1m"
clients_per_session = 10
output_buffer = 1048576
stall_timeout = 45
control_queue = 100
scrollback = 2000

[targets.prod-db]
host = "10.0.0.5"
port = 2222
user = "warroom"
key = "id_ed25519"
known_hosts = "known_hosts"
description = "primary database"

[targets.staging]
host = "staging.internal"
user = "ops"
key = "id_ed25519"
insecure_accept_any_host_key = true

[users.alice]
keys = ["{ALICE_KEY}"]
roles = ["lead"]

[users.bob]
keys = ["{BOB_KEY}"]
roles = ["viewer", "reviewer"]
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A directory holding the files the valid config points at."""
    for name in ("id_ed25519", "known_hosts", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("placeholder\n")
    return tmp_path


def write(config_dir: Path, text: str) -> Path:
    path = config_dir / "relay.toml"
    path.write_text(text)
    return path


def test_full_config_round_trips(config_dir: Path) -> None:
    config = load_config(write(config_dir, VALID))

    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8422)
    assert config.name == "warroom"
    assert config.client_url == "wss://relay.example.com:8422"
    assert config.data_dir == config_dir / "data"
    assert config.tls_cert == config_dir / "cert.pem"
    assert config.tls_key == config_dir / "key.pem"
    assert config.token_ttl == 8 * 3600
    assert config.limits == Limits(
        max_frame=2097152,
        max_input=32768,
        chat_length=500,
        chat_rate=3,
        chat_window=60.0,
        clients_per_session=10,
        output_buffer=1048576,
        stall_timeout=45.0,
        control_queue=100,
        scrollback=2000,
    )
    db = config.targets["prod-db"]
    assert (db.host, db.port, db.user) == ("10.0.0.5", 2222, "warroom")
    assert db.key == config_dir / "id_ed25519"
    assert db.known_hosts == config_dir / "known_hosts"
    assert not db.insecure_accept_any_host_key
    assert db.description == "primary database"
    staging = config.targets["staging"]
    assert (staging.port, staging.known_hosts, staging.insecure_accept_any_host_key) == (
        22,
        None,
        True,
    )
    assert config.users["alice"].keys == (ALICE_KEY,)
    assert config.users["alice"].roles == {Role.LEAD}
    assert config.users["bob"].roles == {Role.VIEWER, Role.REVIEWER}


def test_minimal_config_takes_documented_defaults(config_dir: Path) -> None:
    text = """\
[relay]
listen = "[::1]:9000"
name = "minimal"

[targets.box]
host = "box"
user = "root"
key = "id_ed25519"
known_hosts = "known_hosts"
"""
    config = load_config(write(config_dir, text))

    assert config.listen_host == "::1"
    assert config.client_url == "ws://[::1]:9000"
    assert config.limits == Limits()
    assert config.token_ttl == 8 * 3600
    assert config.data_dir == default_data_dir()
    assert config.tls_cert is None and config.tls_key is None
    assert config.users == {}


def test_absolute_and_home_paths_are_kept(config_dir: Path) -> None:
    text = VALID.replace('data_dir = "data"', f'data_dir = "{config_dir / "elsewhere"}"')
    assert load_config(write(config_dir, text)).data_dir == config_dir / "elsewhere"
    text = VALID.replace('data_dir = "data"', 'data_dir = "~/warroom-data"')
    assert load_config(write(config_dir, text)).data_dir == Path.home() / "warroom-data"


def test_relay_config_and_limits_build_in_code() -> None:
    config = RelayConfig()
    assert config.client_url == "ws://127.0.0.1:8422"
    assert config.limits == Limits()
    assert config.targets == {} and config.users == {}
    assert RelayConfig(listen_host="::1", listen_port=1).client_url == "ws://[::1]:1"
    with pytest.raises(ValueError, match="both or neither"):
        RelayConfig(tls_cert=Path("cert.pem"))


def test_same_key_for_two_users_is_refused(config_dir: Path) -> None:
    text = VALID.replace(BOB_KEY, ALICE_KEY)
    with pytest.raises(ConfigError, match=r"users\.bob\.keys\[0\]: .*belongs to users\.alice"):
        load_config(write(config_dir, text))


def test_parse_config_names_the_source_and_resolves_against_base_dir(config_dir: Path) -> None:
    import tomllib

    data = tomllib.loads(VALID)
    config = parse_config(data, "inline.toml", base_dir=config_dir)
    assert config.targets["prod-db"].key == config_dir / "id_ed25519"
    data["relay"]["listen"] = "nowhere"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "inline.toml", base_dir=config_dir)
    assert str(caught.value).startswith("inline.toml: relay.listen: ")
    assert (caught.value.source, caught.value.where) == ("inline.toml", "relay.listen")


def replace(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


BAD_CONFIGS = {
    "bad port": (
        replace("port = 2222", 'port = "abc"'),
        "targets.prod-db.port: expected an integer from 1 to 65535, got 'abc'",
    ),
    "port out of range": (replace("port = 2222", "port = 70000"), "targets.prod-db.port: "),
    "boolean port": (replace("port = 2222", "port = true"), "targets.prod-db.port: "),
    "unknown key with suggestion": (
        replace('known_hosts = "known_hosts"', 'known_host = "known_hosts"'),
        "targets.prod-db.known_host: unknown key (did you mean 'known_hosts'?)",
    ),
    "unknown relay key": (
        replace('name = "warroom"', 'name = "w"\nlisten_port = 1'),
        "relay.listen_port: unknown key",
    ),
    "unknown section": (VALID + "\n[relays]\nx = 1\n", "relays: unknown key"),
    "unknown limit": (replace("chat_rate = 3", "chat_rates = 3"), "limits.chat_rates: "),
    "unknown role": (
        replace('roles = ["lead"]', 'roles = ["lead", "driver"]'),
        "users.alice.roles[1]: unknown role 'driver'",
    ),
    "no roles": (replace('roles = ["lead"]', "roles = []"), "users.alice.roles: "),
    "bad duration": (
        replace('token_ttl = "8h"', 'token_ttl = "8 hours"'),
        "relay.token_ttl: expected a duration",
    ),
    "zero duration": (replace('chat_window = "1m"', 'chat_window = "0s"'), "limits.chat_window: "),
    "missing known_hosts": (
        replace('known_hosts = "known_hosts"\n', ""),
        "targets.prod-db.known_hosts: required",
    ),
    "known_hosts and insecure together": (
        replace(
            "insecure_accept_any_host_key = true",
            'insecure_accept_any_host_key = true\nknown_hosts = "known_hosts"',
        ),
        "targets.staging.insecure_accept_any_host_key: ",
    ),
    "insecure flag not a bool": (
        replace("insecure_accept_any_host_key = true", 'insecure_accept_any_host_key = "yes"'),
        "targets.staging.insecure_accept_any_host_key: expected true or false",
    ),
    "tls_cert without tls_key": (
        replace('tls_key = "key.pem"\n', ""),
        "relay.tls_key: required when relay.tls_cert is set",
    ),
    "tls_key without tls_cert": (
        replace('tls_cert = "cert.pem"\n', ""),
        "relay.tls_cert: required when relay.tls_key is set",
    ),
    "nonexistent key file": (
        replace('key = "id_ed25519"', 'key = "id_missing"'),
        "targets.prod-db.key: ",
    ),
    "nonexistent tls file": (replace('"cert.pem"', '"nope.pem"'), "relay.tls_cert: "),
    "malformed public key": (
        replace(ALICE_KEY, "ssh-ed25519 AAAAnotakey alice@laptop"),
        "users.alice.keys[0]: invalid ssh-ed25519 public key",
    ),
    "private key pasted as public": (
        replace(ALICE_KEY, "-----BEGIN OPENSSH PRIVATE KEY-----"),
        "users.alice.keys[0]: expected an OpenSSH public key line",
    ),
    "keys not a list": (replace(f'keys = ["{ALICE_KEY}"]', 'keys = "x"'), "users.alice.keys: "),
    "bad target name": (replace("[targets.staging]", "[targets.Staging]"), "targets.Staging: "),
    "bad user name": (
        replace("[users.bob]", '[users."bob smith"]'),
        "users.bob smith: names use lowercase",
    ),
    "missing host": (replace('host = "10.0.0.5"\n', ""), "targets.prod-db.host: required"),
    "missing relay section": (VALID[VALID.index("[limits]") :], "relay: required"),
    "misspelt section": (VALID.replace("[relay]", "[rely]"), "rely: unknown key (did you mean"),
    "no targets": (VALID.split("[targets.prod-db]")[0], "targets: define at least one"),
    "listen without port": (replace('"127.0.0.1:8422"', '"127.0.0.1"'), "relay.listen: "),
    "unbracketed ipv6": (replace('"127.0.0.1:8422"', '"::1:8422"'), "relay.listen: put an IPv6"),
    "listen bad port": (replace('"127.0.0.1:8422"', '"127.0.0.1:http"'), "relay.listen: "),
    "public_url with path": (
        replace('"wss://relay.example.com:8422"', '"https://relay.example.com/x"'),
        "relay.public_url: ",
    ),
    "wildcard listen without public_url": (
        replace('public_url = "wss://relay.example.com:8422"\n', "").replace(
            "127.0.0.1:8422", "0.0.0.0:8422"
        ),
        "relay.public_url: required when listening on the wildcard address",
    ),
    "negative limit": (replace("chat_length = 500", "chat_length = -1"), "limits.chat_length: "),
    "input larger than frame": (
        replace("max_input = 32768", "max_input = 4194304"),
        "limits.max_input: must not exceed limits.max_frame",
    ),
    "scrollback too large": (
        replace("scrollback = 2000", "scrollback = 1000000"),
        "limits.scrollback: expected a number of lines from 0 to 100000, got 1000000",
    ),
    "scrollback not a number": (
        replace("scrollback = 2000", 'scrollback = "10k"'),
        "limits.scrollback: ",
    ),
    "nested table in limits": (
        VALID.replace("[limits]", "[limits.x]"),
        "limits.x: unknown key",
    ),
    "storage without s3": (VALID + '[storage]\ninterval = "1s"\n', "storage.s3: required"),
    "storage bad bucket": (
        VALID + '[storage]\ns3 = { bucket = "Warroom_Prod" }\n',
        "storage.s3.bucket: expected an S3 bucket name",
    ),
    "storage endpoint with path": (
        VALID + '[storage]\ns3 = { bucket = "wr1", endpoint = "https://s3.example.com/wr" }\n',
        "storage.s3.endpoint: expected the server's URL alone",
    ),
    "storage prefix without slash": (
        VALID + '[storage]\ns3 = { bucket = "wr1", prefix = "prod" }\n',
        "storage.s3.prefix: end the prefix with '/'",
    ),
    "storage unknown s3 key": (
        VALID + '[storage]\ns3 = { bucket = "wr1", secret_key = "x" }\n',
        "storage.s3.secret_key: unknown key",
    ),
    "storage lag under two intervals": (
        VALID + '[storage]\ns3 = { bucket = "wr1" }\ninterval = "5s"\nmax_lag = "6s"\n',
        "storage.max_lag: must be at least 1s and twice storage.interval (5s)",
    ),
    "cluster database not a URL": (
        VALID + '\n[cluster]\ndatabase = "warroom@10.0.0.8/warroom"\n',
        "cluster.database: expected a postgresql:// URL",
    ),
    "cluster database of another kind, password hidden": (
        VALID + '\n[cluster]\ndatabase = "mysql://warroom:s3cret@db/warroom"\n',
        "cluster.database: expected a postgresql:// URL, got 'mysql://warroom:***@db/warroom'",
    ),
    "cluster database unparsable": (
        VALID + '\n[cluster]\ndatabase = "postgresql://[db"\n',
        "cluster.database: not a usable postgresql:// URL",
    ),
    "cluster node not printable": (
        VALID + '\n[cluster]\nnode = "a\\u0007b"\n',
        "cluster.node: expected at most 64 printable characters",
    ),
    "unknown cluster key": (
        VALID + '\n[cluster]\ndatabse = "postgresql://db/warroom"\n',
        "cluster.databse: unknown key (did you mean 'database'?)",
    ),
    "cluster redis of another kind, password hidden": (
        VALID + '\n[cluster]\ndatabase = "postgresql://db/w"\nredis = "http://u:s3cret@r:6379/0"\n',
        "cluster.redis: expected a redis://, rediss:// or unix:// URL, got 'http://u:***@r:6379/0'",
    ),
    "cluster redis unparsable": (
        VALID + '\n[cluster]\ndatabase = "postgresql://db/w"\nredis = "redis://r:port/0"\n',
        "cluster.redis: not a usable Redis URL",
    ),
    "cluster redis without a database": (
        VALID + '\n[cluster]\nredis = "redis://10.0.0.7:6379/0"\n',
        "cluster.redis: needs [cluster] database too",
    ),
}


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_each_mistake_names_file_and_field(config_dir: Path, text: str, expected: str) -> None:
    path = write(config_dir, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: "), caught.value
    assert expected in str(caught.value)


def test_a_cluster_database_gives_each_relay_a_node_id(config_dir: Path) -> None:
    alone = load_config(write(config_dir, VALID))
    assert alone.cluster == ClusterConfig() and alone.node == "warroom"  # as before clusters
    dsn = "postgresql://warroom@10.0.0.8/warroom?sslmode=require"
    cluster = load_config(write(config_dir, VALID + f'\n[cluster]\ndatabase = "{dsn}"\n'))
    assert cluster.cluster.database == dsn
    assert cluster.node == f"{socket.gethostname()}:8422"  # the relays share relay.name
    named = VALID + f'\n[cluster]\ndatabase = "{dsn}"\nnode = "relay-3"\n'
    assert load_config(write(config_dir, named)).node == "relay-3"
    live = named + 'redis = "rediss://:pw@10.0.0.7:6380/2"\n'
    assert load_config(write(config_dir, live)).cluster.redis == "rediss://:pw@10.0.0.7:6380/2"


def test_toml_syntax_error_reports_its_line(config_dir: Path) -> None:
    path = write(config_dir, VALID.replace('name = "warroom"', "name = warroom"))
    with pytest.raises(ConfigError, match=r"relay\.toml: line 3, column \d+: invalid TOML: "):
        load_config(path)


def test_missing_and_undecodable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: file: cannot read"):
        load_config(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[relay]")
    with pytest.raises(ConfigError, match=r"binary\.toml: file: not UTF-8"):
        load_config(binary)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("30m", 1800), ("8h", 28800), ("2d", 172800), (45, 45), (1.5, 1.5), (" 5s ", 5)],
)
def test_parse_duration_accepts_documented_forms(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "8", "8 h", "1h30m", "-5s", "0s", 0, -3, True, "2w"])
def test_parse_duration_refuses_everything_else(value: str | int | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_access_redaction_and_four_eyes_sections(tmp_path: Path) -> None:
    from relay.config import parse_config
    from relay.masking import DEFAULT_PATTERNS

    key = tmp_path / "k"
    key.write_text("x")
    data = {
        "relay": {"listen": "127.0.0.1:8422", "name": "r"},
        "access": {"max_ttl_driver": "15m"},
        "redaction": {
            "driver_sees_raw": False,
            "patterns": [{"name": "ticket-token", "regex": r"tkt_[0-9a-f]{16}"}],
        },
        "targets": {
            "db": {
                "host": "h",
                "user": "u",
                "key": str(key),
                "insecure_accept_any_host_key": True,
                "four_eyes": 1,
                "four_eyes_action": "end",
            }
        },
    }
    config = parse_config(data, "relay.toml", base_dir=tmp_path)
    assert config.max_ttl["driver"] == 900 and config.max_ttl["viewer"] == 8 * 3600
    assert not config.redaction.driver_sees_raw
    assert config.redaction.patterns[: len(DEFAULT_PATTERNS)] == DEFAULT_PATTERNS
    assert config.redaction.patterns[-1].name == "ticket-token"
    assert config.targets["db"].four_eyes == 1 and config.targets["db"].four_eyes_action == "end"
    data["redaction"] = {"patterns": [{"name": "bad", "regex": "("}]}
    with pytest.raises(ConfigError, match=r"redaction\.patterns: \[0\]\.regex"):
        parse_config(data, "relay.toml", base_dir=tmp_path)
    data["redaction"] = {}
    data["targets"]["db"]["four_eyes_action"] = "shrug"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"targets\.db\.four_eyes_action"):
        parse_config(data, "relay.toml", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ('"0s"', 0.0), ('"45s"', 45.0), ("90", 90.0)]
)
def test_driver_grace_takes_a_duration_or_zero(
    config_dir: Path, value: str, seconds: float
) -> None:
    text = VALID.replace("control_queue = 100", f"control_queue = 100\ndriver_grace = {value}")
    config = load_config(write(config_dir, text))
    assert config.limits.driver_grace == seconds


def test_keepalive_limits_are_durations(config_dir: Path) -> None:
    text = VALID.replace(
        "control_queue = 100", 'control_queue = 100\nping_interval = "2s"\nping_timeout = 8'
    )
    limits = load_config(write(config_dir, text)).limits
    assert (limits.ping_interval, limits.ping_timeout) == (2.0, 8.0)
    bad = VALID.replace("control_queue = 100", 'control_queue = 100\ndriver_grace = "-5s"')
    with pytest.raises(ConfigError, match=r"limits\.driver_grace: expected a duration"):
        load_config(write(config_dir, bad))


def test_storage_section_takes_the_bucket_and_defaults(config_dir: Path) -> None:
    from relay.storage.config import DEFAULT_CACHE_SIZE, S3Config

    assert load_config(write(config_dir, VALID)).storage is None  # the disk only
    text = VALID + (
        '[storage]\ns3 = { endpoint = "https://s3.example.com", bucket = "warroom", '
        'prefix = "prod/" }\n'
    )
    storage = load_config(write(config_dir, text)).storage
    assert storage is not None
    assert storage.s3 == S3Config("warroom", "https://s3.example.com", "prod/")
    assert (storage.interval, storage.max_lag, storage.cache_size) == (
        1.0,
        30.0,
        DEFAULT_CACHE_SIZE,
    )
    assert storage.s3.url == "s3://warroom/prod/ at https://s3.example.com"
    text = VALID + (
        '[storage]\ns3 = { bucket = "wr1", region = "eu-west-1", path_style = false }\n'
        'interval = 0\nmax_lag = "2m"\ncache_size = 0\n'
    )
    storage = load_config(write(config_dir, text)).storage
    assert storage is not None and storage.s3.endpoint is None and storage.s3.region == "eu-west-1"
    assert storage.s3.path_style is False
    assert (storage.interval, storage.max_lag, storage.cache_size) == (0.0, 120.0, 0)
