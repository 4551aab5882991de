"""The core: the rules of a session, and nothing else.

Who may do what (roles, grants, requests), one session as a state machine
(driver, hand-off, four-eyes, chat, expiry: :mod:`relay.core.session`, its
hand-off rules :mod:`relay.core.handoff`, its state :mod:`relay.core.state`
and the actions it returns :mod:`relay.core.actions`), the wire format (what
clients send :mod:`relay.core.protocol`, what the relay sends
:mod:`relay.core.messages`), the error codes, the rule for text one person
writes and another reads, and rate limits.

These modules decide; they do not do. They open no socket and no file, start
no task and read no clock: time is an argument, and what must happen is a
return value. They may import only each other and the standard library's pure
parts (``tests/test_architecture.py`` checks it), so every rule is tested one
event at a time, in microseconds.
"""
