"""Evidence: what happened, written so that an edit cannot go unnoticed.

Recordings (asciicast v3, hash-chained and signed), the relay-wide audit log
and its witness outside the data directory, the chain format under both and
its verifier, verdicts that combine them, and the reviewer's side: the
catalog and search, replay, export to plain asciicast.

May import the core, trust (the signing key) and the terminal model (replay
draws screens); never object storage, the network or the UI. Serving
recordings to reviewers over the protocol is the network's
(:mod:`relay.net.archive`).
"""
