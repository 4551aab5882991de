"""The relay's TOML configuration, parsed into frozen dataclasses.

Parsing is strict on purpose: an unknown key is an error (a typo such as
``known_host`` must not silently fall back to a default), every error names
the file and the dotted field (``relay.toml: targets.prod-db.port: ...``), and
files the relay will need later (SSH key, known_hosts, TLS pair) must exist
now, so a bad config fails at start rather than at the first connection.

Relative paths, and ``~``, resolve against the config file's directory.
"""

from __future__ import annotations

import difflib
import math
import re
import socket
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from relay.core.access import DEFAULT_MAX_TTL
from relay.core.errors import WarroomError
from relay.core.roles import Role
from relay.evidence.witness import parse_address
from relay.masking import DEFAULT_PATTERNS, PatternError, SecretPattern, parse_patterns
from relay.storage import config as storage
from relay.store.redis_url import check_redis_url
from relay.trust.identity import parse_authorized_key, relay_base_url

T = TypeVar("T")

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
"""Target and user names: safe in file names, URLs, logs and shell arguments."""

DEFAULT_TOKEN_TTL = 8 * 3600.0
MIN_OUTPUT_BUFFER = 1024 * 1024
# A scrollback line costs up to ~1 KiB (a pointer per cell), so the largest
# scrollback bounds one terminal model near 100 MB; the default near 10 MB.
MAX_SCROLLBACK = 100_000
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})

ROOT_KEYS = (
    "relay",
    "cluster",
    "limits",
    "access",
    "redaction",
    "recording",
    "audit",
    "storage",
    "targets",
    "users",
)
CLUSTER_KEYS = ("database", "node", "redis")
RECORDING_KEYS = ("max_loss",)
AUDIT_KEYS = ("witness",)
REDACTION_KEYS = ("enabled", "driver_sees_raw", "patterns")
ACCESS_KEYS = ("max_ttl_viewer", "max_ttl_driver", "max_ttl_reviewer")
FOUR_EYES_ACTIONS = ("pause", "end")
RELAY_KEYS = ("listen", "name", "public_url", "data_dir", "tls_cert", "tls_key", "token_ttl")
TARGET_KEYS = (
    "host",
    "port",
    "user",
    "key",
    "known_hosts",
    "insecure_accept_any_host_key",
    "description",
    "four_eyes",
    "four_eyes_action",
    "four_eyes_roles",
)
USER_KEYS = ("keys", "roles")

_DURATION = re.compile(r"(\d+)(ms|[smhd])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


class ConfigError(WarroomError, ValueError):
    """The config is wrong; the message says where (file and dotted field) and how."""

    def __init__(self, source: str, where: str, message: str) -> None:
        super().__init__(f"{source}: {where}: {message}")
        self.source = source
        self.where = where
        self.message = message


def default_data_dir() -> Path:
    """Where recordings, the audit log and the relay's keys live unless configured."""
    return Path(platformdirs.user_data_dir("warroom"))


@dataclass(frozen=True)
class Limits:
    """Explicit bounds on what one client or session may cost the relay.

    Each breach is answered with an error frame naming the limit, so the
    defaults below are part of the protocol documentation.
    """

    max_frame: int = 1024 * 1024
    """Bytes in the largest websocket frame accepted from a client (bounds per-message memory)."""
    max_input: int = 64 * 1024
    """Bytes of terminal input in one frame."""
    chat_length: int = 2000
    """Characters in one chat message."""
    chat_rate: int = 5
    """Chat messages one client may send per ``chat_window``."""
    chat_window: float = 10.0
    """Seconds over which ``chat_rate`` is counted."""
    clients_per_session: int = 64
    """Connected clients per session, all roles together."""
    lead_slots: int = 4
    """Places of ``clients_per_session`` only leads may take, so viewers cannot lock a lead out."""
    connections_per_user: int = 8
    """Authenticated connections per engineer (per invite for guests), relay-wide."""
    output_buffer: int = 8 * 1024 * 1024
    """Bytes of recent output kept per session so reconnecting clients resume without loss."""
    stall_timeout: float = 30.0
    """Seconds a client's socket may accept nothing before the client is dropped."""
    control_queue: int = 256
    """JSON messages queued per client; past this a slow client is dropped, never waited for."""
    empty_session_timeout: float = 3600.0
    """Seconds a session may stay with nobody in it before the relay ends it."""
    ping_interval: float = 5.0
    """Seconds between the relay's websocket pings to each client (finds dead links)."""
    ping_timeout: float = 20.0
    """Seconds a client may take to answer a ping before its connection is dropped: a
    client reading a burst of output answers late, so this is not much shorter than
    ``stall_timeout`` (clients watch their own link every second)."""
    driver_grace: float = 30.0
    """Seconds a driver whose connection dropped keeps control, so they can come back
    (0: control returns to the owner at once)."""
    scrollback: int = 10_000
    """Lines of scrollback each of a session's terminal models keeps (0 to ``MAX_SCROLLBACK``)."""


LIMIT_KEYS = tuple(f.name for f in fields(Limits))
DURATION_LIMITS = (
    "chat_window",
    "stall_timeout",
    "empty_session_timeout",
    "ping_interval",
    "ping_timeout",
)


@dataclass(frozen=True)
class RedactionConfig:
    """Secret masking: which patterns, and who may see raw output.

    Viewers and the recording always get masked output while masking is
    enabled; ``driver_sees_raw`` lets the one who types see what they typed for.
    """

    enabled: bool = True
    driver_sees_raw: bool = True
    patterns: tuple[SecretPattern, ...] = DEFAULT_PATTERNS
    """The defaults (gitleaks / detect-secrets) plus ``[[redaction.patterns]]``."""


@dataclass(frozen=True)
class TargetConfig:
    """A production host the relay may open a shell on, with the relay's own credentials."""

    name: str
    host: str
    user: str
    key: Path
    port: int = 22
    known_hosts: Path | None = None
    """``None`` only together with ``insecure_accept_any_host_key``."""
    insecure_accept_any_host_key: bool = False
    description: str = ""
    four_eyes: int = 0
    """Input needs this many other participants watching (0: no four-eyes policy)."""
    four_eyes_action: str = "pause"
    """When too few watch: ``pause`` input, or ``end`` the session."""
    four_eyes_roles: tuple[str, ...] = ("lead", "viewer")
    """The roles whose participants count as a second pair of eyes."""


@dataclass(frozen=True)
class UserConfig:
    """An engineer: the SSH public keys that prove it is them, and the roles they hold."""

    name: str
    keys: tuple[str, ...]
    """OpenSSH public key lines, already validated; pass to ``identity.verify_challenge``."""
    roles: frozenset[Role]


@dataclass(frozen=True)
class EvidenceConfig:
    """How much a crash may cost the recordings, and where audit checkpoints are witnessed.

    ``max_loss``: output older than this (seconds) is in a recording's signed,
    verified prefix even if the relay is killed (``[recording] max_loss``).
    ``witness``: ``syslog`` (``/dev/log``), ``unix:/PATH``, ``udp:HOST:PORT``
    or ``none`` (``[audit] witness``, see :mod:`relay.evidence.witness`).
    """

    max_loss: float = 0.1
    witness: str = "syslog"


@dataclass(frozen=True)
class ClusterConfig:
    """Several relays sharing their state (``[cluster]``); empty for a relay on its own.

    ``database``: a ``postgresql://`` URL; the relay's state (grants, requests,
    invites, tokens, the session directory) and a copy of its audit log live
    there instead of under the data dir (:mod:`relay.store.postgres`).
    ``node``: this relay's own name in the cluster, the *home* of the sessions
    it holds (all relays of a cluster share ``relay.name``, which tokens are
    bound to). ``None``: ``relay.name``, or ``<hostname>:<port>`` when
    ``database`` is set (see :attr:`RelayConfig.node`).
    ``redis``: a ``redis://``, ``rediss://`` or ``unix://`` URL; with it any
    relay of the cluster serves any participant of any session, the live
    traffic between a session's home and the other relays going through
    Redis streams (:mod:`relay.cluster`). It needs ``database``: the session
    directory there says which relay is a session's home.
    """

    database: str | None = None
    node: str | None = None
    redis: str | None = None


@dataclass(frozen=True)
class RelayConfig:
    """Everything the relay needs to start; build it in code or with ``load_config``."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 8422
    name: str = "warroom"
    """Shown to clients and bound into SSH-key challenges, so a signature fits one relay only."""
    public_url: str | None = None
    """Base URL for invites; ``None`` derives it from ``listen`` and TLS (see ``client_url``)."""
    data_dir: Path = field(default_factory=default_data_dir)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token_ttl: float = DEFAULT_TOKEN_TTL
    """Seconds a token issued by the relay stays valid."""
    limits: Limits = field(default_factory=Limits)
    max_ttl: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MAX_TTL))
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    """Longest just-in-time grant per role (viewer, driver, reviewer), in seconds."""
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    storage: storage.StorageConfig | None = None
    """Object storage for recordings and audit files (``[storage]``); None: the disk only."""
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    targets: dict[str, TargetConfig] = field(default_factory=dict)
    users: dict[str, UserConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def node(self) -> str:
        """This relay process's name among the relays sharing its state.

        A relay on its own is simply its ``name`` (as sessions in an existing
        ``state.db`` say); in a cluster every relay shares the name, so each
        needs its own node id (``[cluster] node``, by default set from the
        host name and port when the config is read).
        """
        return self.cluster.node or self.name

    @property
    def client_url(self) -> str:
        """The URL clients dial and invites point at: ``public_url``, else derived from listen."""
        if self.public_url is not None:
            return self.public_url
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.listen_port}"


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"8h"``, ``"2d"`` or a plain number of seconds.

    Every duration in the config is a timeout or a lifetime, so zero and
    negative values are refused here rather than at each use.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '90s', '30m', '8h' or '2d', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError(
                f"expected a duration such as '90s', '30m', '8h' or '2d', got {value!r}"
            )
        seconds = float(int(match[1]) * _UNIT_SECONDS[match[2]])
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


def load_config(path: Path) -> RelayConfig:
    """Read and validate the config at ``path``; every problem is a ``ConfigError``."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(source, "file", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "file", f"not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(source, exc) from None
    return parse_config(data, source, base_dir=path.parent)


def _toml_error(source: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    """Turn tomllib's "... (at line 3, column 7)" into a ``line 3, column 7`` location."""
    message = str(exc)
    position = _TOML_POSITION.search(message)
    if position is None:
        return ConfigError(source, "invalid TOML", message)
    where = f"line {position[1]}, column {position[2]}"
    return ConfigError(source, where, f"invalid TOML: {message[: position.start()]}")


def parse_config(data: Mapping[str, Any], source: str, base_dir: Path | None = None) -> RelayConfig:
    """Validate decoded TOML from ``source`` (named in errors).

    Relative paths resolve against ``base_dir``, by default the directory of ``source``.
    """
    root = _Table(data, "", source, (base_dir or Path(source).parent).expanduser().absolute())
    root.allow(ROOT_KEYS)
    relay = root.table("relay")
    limits = _parse_limits(root.optional_table("limits"))
    targets = {name: _parse_target(name, t) for name, t in root.named_tables("targets")}
    users = _parse_users(root.named_tables("users"))
    max_ttl = _parse_access(root.optional_table("access"))
    redaction = _parse_redaction(root.optional_table("redaction"))
    evidence = _parse_evidence(root.optional_table("recording"), root.optional_table("audit"))
    object_storage = _parse_storage(root.optional_table("storage"))
    if not targets:
        raise root.error("targets", "define at least one [targets.<name>] for the relay to reach")
    config = _parse_relay(relay, limits, targets, users)
    cluster = _parse_cluster(root.optional_table("cluster"), config.listen_port)
    return replace(
        config,
        max_ttl=max_ttl,
        redaction=redaction,
        evidence=evidence,
        storage=object_storage,
        cluster=cluster,
    )


def _parse_relay(
    relay: _Table,
    limits: Limits,
    targets: dict[str, TargetConfig],
    users: dict[str, UserConfig],
) -> RelayConfig:
    relay.allow(RELAY_KEYS)
    host, port = relay.required("listen", _parse_listen)
    public_url = relay.optional("public_url", None, relay_base_url)
    if public_url is None and host in WILDCARD_HOSTS:
        raise relay.error(
            "public_url",
            f"required when listening on the wildcard address {host!r}: "
            "clients cannot dial it, so say which URL invites should point at",
        )
    tls_cert, tls_key = _parse_tls_pair(relay)
    config = RelayConfig(
        listen_host=host,
        listen_port=port,
        name=relay.required("name", _parse_relay_name),
        public_url=public_url,
        data_dir=relay.optional("data_dir", None, relay.path) or default_data_dir(),
        tls_cert=tls_cert,
        tls_key=tls_key,
        token_ttl=relay.optional("token_ttl", DEFAULT_TOKEN_TTL, parse_duration),
        limits=limits,
        targets=targets,
        users=users,
    )
    return config


def _parse_cluster(table: _Table | None, port: int) -> ClusterConfig:
    if table is None:
        return ClusterConfig()
    table.allow(CLUSTER_KEYS)
    database = table.optional("database", None, _database_url)
    node = table.optional("node", None, _parse_node)
    redis = table.optional("redis", None, _redis_url)
    if redis is not None and database is None:
        raise table.error(
            "redis",
            "needs [cluster] database too: the session directory there says which relay "
            "is each session's home",
        )
    if node is None and database is not None:
        node = _parse_node(f"{socket.gethostname()}:{port}")
    return ClusterConfig(database=database, node=node, redis=redis)


def _database_url(value: Any) -> str:
    from relay.store.pg_database import check_dsn  # psycopg loads only for a cluster

    return check_dsn(_parse_string(value))


def _redis_url(value: Any) -> str:
    return check_redis_url(_parse_string(value))


def _parse_node(value: Any) -> str:
    text = _parse_string(value)
    if len(text) > 64 or not text.isprintable():
        raise ValueError(f"expected at most 64 printable characters, got {text!r}")
    return text


def _parse_listen(value: Any) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6]:port``; bare IPv6 is refused as ambiguous."""
    text = _parse_string(value)
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(
            f"expected host:port such as '127.0.0.1:8422' or '[::1]:8422', got {text!r}"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"put an IPv6 address in brackets, as in '[::1]:8422', got {text!r}")
    return host, _port(int(port_text) if port_text.isdigit() else port_text)


def _parse_tls_pair(relay: _Table) -> tuple[Path | None, Path | None]:
    """TLS needs both halves; one alone is almost certainly a mistake."""
    cert = relay.optional("tls_cert", None, relay.existing_file)
    key = relay.optional("tls_key", None, relay.existing_file)
    if cert is not None and key is None:
        raise relay.error("tls_key", "required when relay.tls_cert is set (give both or neither)")
    if key is not None and cert is None:
        raise relay.error("tls_cert", "required when relay.tls_key is set (give both or neither)")
    return cert, key


def _parse_relay_name(value: Any) -> str:
    text = _parse_string(value)
    if len(text) > 64 or not text.isprintable():
        raise ValueError(f"expected at most 64 printable characters, got {text!r}")
    return text


def _parse_limits(table: _Table | None) -> Limits:
    if table is None:
        return Limits()
    table.allow(LIMIT_KEYS)
    defaults = Limits()
    durations = {
        name: table.optional(name, getattr(defaults, name), parse_duration)
        for name in DURATION_LIMITS
    }
    sizes = {
        name: table.optional(name, getattr(defaults, name), _positive_int)
        for name in LIMIT_KEYS
        if name not in DURATION_LIMITS and name not in ("driver_grace", "scrollback")
    }
    grace = table.optional("driver_grace", defaults.driver_grace, _duration_or_zero)
    scrollback = table.optional("scrollback", defaults.scrollback, _scrollback_lines)
    limits = Limits(driver_grace=grace, scrollback=scrollback, **durations, **sizes)
    if limits.lead_slots >= limits.clients_per_session:
        raise table.error("lead_slots", "must be less than limits.clients_per_session")
    if limits.max_input > limits.max_frame:
        raise table.error("max_input", "must not exceed limits.max_frame, which carries it")
    if limits.output_buffer < MIN_OUTPUT_BUFFER:
        raise table.error(
            "output_buffer",
            f"must be at least {MIN_OUTPUT_BUFFER} bytes (one chunk from the target must fit)",
        )
    return limits


def _parse_target(name: str, table: _Table) -> TargetConfig:
    table.allow(TARGET_KEYS)
    known_hosts = table.optional("known_hosts", None, table.existing_file)
    insecure = table.optional("insecure_accept_any_host_key", False, _parse_bool)
    if known_hosts is None and not insecure:
        raise table.error(
            "known_hosts",
            "required: the relay checks the host's key against it (set "
            "insecure_accept_any_host_key = true only for throwaway test hosts)",
        )
    if known_hosts is not None and insecure:
        raise table.error(
            "insecure_accept_any_host_key",
            "cannot be true while known_hosts is set; keep one of the two",
        )
    target = TargetConfig(
        name=name,
        host=table.required("host", _parse_string),
        port=table.optional("port", 22, _port),
        user=table.required("user", _parse_string),
        key=table.required("key", table.existing_file),
        known_hosts=known_hosts,
        insecure_accept_any_host_key=insecure,
        description=table.optional("description", "", _parse_any_string),
        four_eyes=table.optional("four_eyes", 0, _non_negative_int),
        four_eyes_action=table.optional("four_eyes_action", "pause", _four_eyes_action),
        four_eyes_roles=table.optional("four_eyes_roles", ("lead", "viewer"), _four_eyes_roles),
    )
    return target


def _duration_or_zero(value: Any) -> float:
    """A duration, or 0 (``0``, ``"0s"``) to turn the feature off."""
    if value == 0 or (isinstance(value, str) and value.strip() in ("0", "0s")):
        return 0.0 if not isinstance(value, bool) else parse_duration(value)
    return parse_duration(value)


def _four_eyes_action(value: Any) -> str:
    if value not in FOUR_EYES_ACTIONS:
        raise ValueError(f"expected one of {', '.join(FOUR_EYES_ACTIONS)}, got {value!r}")
    return str(value)


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number (0 or more), got {value!r}")
    return value


def _parse_redaction(table: _Table | None) -> RedactionConfig:
    if table is None:
        return RedactionConfig()
    table.allow(REDACTION_KEYS)
    none: tuple[SecretPattern, ...] = ()
    extra = table.optional("patterns", none, _extra_patterns)
    return RedactionConfig(
        enabled=table.optional("enabled", True, _parse_bool),
        driver_sees_raw=table.optional("driver_sees_raw", True, _parse_bool),
        patterns=DEFAULT_PATTERNS + extra,
    )


def _parse_evidence(recording: _Table | None, audit: _Table | None) -> EvidenceConfig:
    default = EvidenceConfig()
    max_loss, witness = default.max_loss, default.witness
    if recording is not None:
        recording.allow(RECORDING_KEYS)
        max_loss = recording.optional("max_loss", max_loss, _max_loss)
    if audit is not None:
        audit.allow(AUDIT_KEYS)
        witness = audit.optional("witness", witness, _witness)
    return EvidenceConfig(max_loss=max_loss, witness=witness)


def _parse_storage(table: _Table | None) -> storage.StorageConfig | None:
    """``[storage]``: ``s3 = {endpoint, bucket, prefix, region, path_style}`` and the limits."""
    if table is None:
        return None
    table.allow(storage.STORAGE_KEYS)
    s3 = table.optional_table("s3")
    if s3 is None:
        raise table.error("s3", 'required: s3 = { bucket = "...", endpoint = "https://..." }')
    s3.allow(storage.S3_KEYS)
    bucket = storage.S3Config(
        bucket=s3.required("bucket", storage.parse_bucket),
        endpoint=s3.optional("endpoint", None, storage.parse_endpoint),
        prefix=s3.optional("prefix", "", storage.parse_prefix),
        region=s3.optional("region", None, storage.parse_region),
        path_style=s3.optional("path_style", None, _parse_bool),
    )
    interval = table.optional("interval", storage.DEFAULT_INTERVAL, _duration_or_zero)
    max_lag = table.optional("max_lag", storage.DEFAULT_MAX_LAG, parse_duration)
    if max_lag < 2 * interval or max_lag < 1:
        raise table.error(
            "max_lag",
            f"must be at least 1s and twice storage.interval ({interval:g}s): "
            "a recording is uploaded once an interval, and a lag of one interval is normal",
        )
    return storage.StorageConfig(
        s3=bucket,
        interval=interval,
        max_lag=max_lag,
        cache_size=table.optional(
            "cache_size", storage.DEFAULT_CACHE_SIZE, storage.parse_cache_size
        ),
    )


def _max_loss(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0.01 <= seconds <= 60:
        raise ValueError(f"expected between 10ms and 60s, got {value!r}")
    return seconds


def _witness(value: Any) -> str:
    text = _parse_string(value)
    parse_address(text)
    return text


def _extra_patterns(value: Any) -> tuple[SecretPattern, ...]:
    try:
        return parse_patterns(value, where="")
    except PatternError as exc:
        raise ValueError(str(exc)) from None


def _parse_access(table: _Table | None) -> dict[str, float]:
    max_ttl = dict(DEFAULT_MAX_TTL)
    if table is None:
        return max_ttl
    table.allow(ACCESS_KEYS)
    for key in ACCESS_KEYS:
        role = key.removeprefix("max_ttl_")
        max_ttl[role] = table.optional(key, max_ttl[role], parse_duration)
    return max_ttl


def _four_eyes_roles(value: Any) -> tuple[str, ...]:
    roles = tuple(_parse_role(item).value for item in _nonempty_list(value))
    return tuple(dict.fromkeys(roles))


def _parse_users(tables: Iterator[tuple[str, _Table]]) -> dict[str, UserConfig]:
    """Parse users, refusing a key listed under two names (it would identify both)."""
    users: dict[str, UserConfig] = {}
    owners: dict[bytes, str] = {}
    for name, table in tables:
        table.allow(USER_KEYS)
        keys = table.required("keys", _nonempty_list)
        for index, line in enumerate(keys):
            public_data = table.item(f"keys[{index}]", line, _public_key_data)
            owner = owners.setdefault(public_data, name)
            if owner != name:
                raise table.error(f"keys[{index}]", f"this key already belongs to users.{owner}")
        roles = table.required("roles", _nonempty_list)
        users[name] = UserConfig(
            name=name,
            keys=tuple(dict.fromkeys(line.strip() for line in keys)),
            roles=frozenset(table.item(f"roles[{i}]", r, _parse_role) for i, r in enumerate(roles)),
        )
    return users


def _public_key_data(value: Any) -> bytes:
    return bytes(parse_authorized_key(_parse_string(value)).public_data)


def _parse_role(value: Any) -> Role:
    return Role.parse(_parse_string(value))


def _parse_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _parse_any_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _parse_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _scrollback_lines(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCROLLBACK:
        raise ValueError(f"expected a number of lines from 0 to {MAX_SCROLLBACK}, got {value!r}")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected an integer from 1 to 65535, got {value!r}")
    return value


def _nonempty_list(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list, got {value!r}")
    return value


class _Table:
    """One TOML table being read: tracks its dotted path and which keys were consumed.

    Readers take a converter that raises ``ValueError``; the table turns that
    into a ``ConfigError`` naming the field. ``allow`` refuses unknown keys
    before any field is read, so a typo is reported as itself (with a
    suggestion), not as the required field it failed to set.
    """

    def __init__(self, data: Mapping[str, Any], prefix: str, source: str, base_dir: Path) -> None:
        self.data = data
        self.prefix = prefix
        self.source = source
        self.base_dir = base_dir

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.source, self._dotted(key), message)

    def required(self, key: str, convert: Callable[[Any], T]) -> T:
        if key not in self.data:
            raise self.error(key, "required but missing")
        return self.item(key, self.data[key], convert)

    def optional(self, key: str, default: T, convert: Callable[[Any], T]) -> T:
        if key not in self.data:
            return default
        return self.item(key, self.data[key], convert)

    def item(self, key: str, value: Any, convert: Callable[[Any], T]) -> T:
        try:
            return convert(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def table(self, key: str) -> _Table:
        if key not in self.data:
            raise self.error(key, f"required: add a [{self._dotted(key)}] section")
        table = self.optional_table(key)
        assert table is not None
        return table

    def optional_table(self, key: str) -> _Table | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {value!r}")
        return _Table(value, self._dotted(key), self.source, self.base_dir)

    def named_tables(self, key: str) -> Iterator[tuple[str, _Table]]:
        """Yield ``(name, table)`` for each ``[key.<name>]``, checking the name's charset."""
        group = self.optional_table(key)
        if group is None:
            return
        for name in group.data:
            if not NAME_PATTERN.fullmatch(name):
                raise group.error(
                    name, "names use lowercase letters, digits, '.', '_' and '-' (at most 63)"
                )
            yield name, group.table(name)

    def path(self, value: Any) -> Path:
        path = Path(_parse_string(value)).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def existing_file(self, value: Any) -> Path:
        path = self.path(value)
        if not path.is_file():
            reason = "is not a file" if path.exists() else "does not exist"
            raise ValueError(f"{path} {reason}")
        return path

    def allow(self, known: tuple[str, ...]) -> None:
        """Refuse keys outside ``known``: in a security config a typo must not pass silently."""
        for key in self.data:
            if key not in known:
                raise self.error(key, "unknown key" + _suggestion(key, known))

    def _dotted(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key


def _suggestion(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(known)})"
