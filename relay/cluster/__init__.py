"""Past one relay: what a relay depends on besides itself, and how it tells.

A relay on its own needs only its data dir. Several relays behind a load
balancer share their state through engines built for it — PostgreSQL for
grants, tokens and the session directory (:mod:`relay.store.postgres`);
Redis for live traffic (:mod:`relay.cluster.bus`: the connection and the
streams' names; the home and edge sides of a session are in
:mod:`relay.net.home` and :mod:`relay.net.edge`) and object storage for
recordings are the other parts of ``[cluster]`` — and each relay must say
whether it can still serve: :mod:`relay.cluster.health`.

This package may import :mod:`relay.store` and the standard library; the
network layer (:mod:`relay.net.server`) uses it, never the reverse.
"""
