"""Settings every relay of a cluster must share, checked against the database at start.

A participant on an edge relay gets the guarantees of one on the session's
home, so the settings that shape those guarantees must be the same on every
relay, whichever relay the load balancer picked:

* ``[redaction]`` (whether output is masked, the patterns, whether the driver
  sees raw output): output is masked at the session's home with the home's
  patterns, and so is chat from an edge, while the reasons people type are
  masked on the relay they typed them on. A relay with fewer patterns would let through,
  for every session it is home to, what the others promise to mask; one
  with ``driver_sees_raw`` set differently would change who sees secrets
  depending on where the session was opened.
* ``[limits] output_buffer``: the output ring. The home trims the session's
  stream in Redis to its ring, and each edge keeps a copy of that size: a
  client may resume at its offset on any relay exactly when every relay
  holds as much as the home.

Other settings may differ (a relay's listen address, its node, its data dir)
or are checked elsewhere (the signing key, :mod:`relay.cluster.signing`).
The chat and input limits are the home's alone (its core enforces them), so
they need not agree.

At start (:func:`agree_settings`) a relay computes a fingerprint of these
settings (SHA-256 of their canonical JSON). The first relay of a cluster
registers it in the database (table ``cluster_settings``, one serializable
transaction, so of relays starting together one wins); every later relay
whose settings differ does not start, and says which setting differs and
how to fix it. Changing them for the whole cluster: stop every relay, change
every ``relay.toml``, ``DELETE FROM cluster_settings``, start the relays.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from relay.config import RelayConfig
from relay.core.errors import WarroomError

if TYPE_CHECKING:  # psycopg loads only where a database is configured
    from relay.store.postgres import ClusterSettings


class SettingsMismatch(WarroomError):
    """This relay's shared settings are not the cluster's; the message says which differ."""


def shared_settings(config: RelayConfig) -> dict[str, Any]:
    """The settings every relay of the cluster must share, as plain JSON."""
    redaction = config.redaction
    return {
        "redaction": {
            "enabled": redaction.enabled,
            "driver_sees_raw": redaction.driver_sees_raw,
            "patterns": [  # in order: a kind may have several expressions
                {
                    "name": p.name,
                    "regex": p.regex,
                    "triggers": [t.decode("latin-1") for t in p.triggers],
                    "tail": p.tail,
                }
                for p in redaction.patterns
            ],
        },
        "limits": {"output_buffer": config.limits.output_buffer},
    }


def fingerprint(settings: dict[str, Any]) -> str:
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def differences(here: dict[str, Any], cluster: dict[str, Any]) -> list[str]:
    """Each setting that differs, said for people: ``[section] key: here …, the cluster's …``."""
    found: list[str] = []
    for section in sorted(set(here) | set(cluster)):
        ours, theirs = here.get(section, {}), cluster.get(section, {})
        for key in sorted(set(ours) | set(theirs)):
            mine, other = ours.get(key), theirs.get(key)
            if mine == other:
                continue
            if key == "patterns" and isinstance(mine, list) and isinstance(other, list):
                found.append(f"[{section}] patterns: {_patterns(mine, other)}")
            else:
                ours_text, theirs_text = json.dumps(mine), json.dumps(other)
                found.append(f"[{section}] {key}: {ours_text} here, {theirs_text} in the cluster")
    return found


def _patterns(mine: list[dict[str, Any]], other: list[dict[str, Any]]) -> str:
    """Which kinds of secret have expressions only here, or only in the cluster."""
    ours = [json.dumps(p, sort_keys=True) for p in mine]
    theirs = [json.dumps(p, sort_keys=True) for p in other]
    here = sorted({p["name"] for p, text in zip(mine, ours, strict=True) if text not in theirs})
    there = sorted({p["name"] for p, text in zip(other, theirs, strict=True) if text not in ours})
    parts = []
    if here:
        parts.append("only here: " + ", ".join(here))
    if there:
        parts.append("only in the cluster: " + ", ".join(there))
    return "; ".join(parts) or "the same expressions in another order"


class SettingsRegistry(Protocol):
    """What :func:`agree_settings` needs of the database
    (:class:`relay.store.postgres.PostgresStore`)."""

    @property
    def where(self) -> str:
        """The database, named without its password."""
        ...

    async def register_settings(
        self, fingerprint: str, settings: dict[str, Any], node: str, now: float
    ) -> ClusterSettings:
        """Make ``settings`` the cluster's unless some are registered; return the cluster's."""
        ...


async def agree_settings(
    registry: SettingsRegistry, config: RelayConfig, now: float | None = None
) -> str:
    """Register this relay's shared settings as the cluster's unless some are; return the
    fingerprint. Raises :class:`SettingsMismatch` when the cluster's are others."""
    settings = shared_settings(config)
    mine = fingerprint(settings)
    registered = await registry.register_settings(
        mine, settings, config.node, time.time() if now is None else now
    )
    if registered.fingerprint == mine:
        return mine
    differ = differences(settings, registered.settings) or ["(a setting this warroom lacks)"]
    raise SettingsMismatch(
        f"this relay's settings differ from the cluster's, registered by node "
        f"{registered.node!r} in the state database {registry.where}: {'; '.join(differ)}. "
        "Every relay of a cluster must mask alike and keep as much output (a session's "
        "output and chat are masked at its home, reasons on the relay they were typed on, "
        "and a client may resume on any relay): make [redaction] and [limits] output_buffer "
        "the same in every relay.toml, then start again (to change them for the whole "
        "cluster: stop every relay, change every relay.toml, DELETE FROM cluster_settings, "
        "start them)"
    )
