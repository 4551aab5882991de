"""The network around the rules: what turns the core's decisions into I/O.

The websocket server (:mod:`relay.net.server`) and relay-wide access
(:mod:`relay.net.access_desk`), one client connection as a state machine
(:mod:`relay.net.conversation`, its phases :mod:`relay.net.handshake` and
:mod:`relay.net.lobby`, and what it knows of the relay,
:mod:`relay.net.host`), a
running session wired to its shell, clients, recording and audit
(:mod:`relay.net.live`), the per-client send side and the output stream every
client reads by offset, the SSH connection to the target, the recordings
archive reviewers list and fetch (:mod:`relay.net.archive`), and noticing a
stalled event loop.

May import every floor below it (core, trust, evidence, masking, terminal,
store, storage, cluster); never the UI. The relay's rules do not live here:
when a module here decides something, it asks the core.
"""
