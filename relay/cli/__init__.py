"""The relay's side of the ``warroom`` command line.

``warroom relay`` serves from a TOML config (:mod:`relay.cli.serve.serve`),
``warroom demo`` runs a relay with a loopback sandbox target
(:mod:`relay.cli.serve.demo`, :mod:`relay.cli.serve.sandbox`), ``warroom audit``
(:mod:`relay.cli.serve.audit`), ``warroom verify`` and ``warroom export``
(:mod:`relay.cli.serve.review`), and the one-line error rules every verb shares
(:mod:`relay.cli.serve.arguments`). The ``warroom`` command itself is
:mod:`tui.cli`, where both the relay's verbs and the client's are visible.

May import every floor of the relay; never the UI.
"""
