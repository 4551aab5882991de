"""Window keys in typing order: what is typed after ``ctrl+] c`` belongs to the chat.

Keys travel through queues: the app hands each key to the focused widget's
queue, and a key a widget does not take bubbles on to its parents and, last,
to the app's own bindings. A window key that moves the focus (the chat, Esc
back to the terminal, a dialog) must therefore act *behind* the keys typed
before it and *ahead of* the keys typed after it. The session screen decides
such a key as the app reads it and sends a :class:`WindowKey` down the path
the earlier keys took; until that message has come back up to the app, the
app keeps every newly typed key (:class:`HeldKeys`) and then hands them on,
in order, to wherever the focus went. Without this, a driver's fast
``ctrl+] c @lead all yours`` once sent ``@lead a`` to the production shell.
"""

from __future__ import annotations

import time
from collections import deque

from textual import events
from textual.message import Message
from textual.message_pump import MessagePump

# The longest keys wait for a window key to come back (a safety valve: it takes
# milliseconds unless a widget vanished with the message).
WINDOW_KEY_WAIT = 2.0


class WindowKey(Message):
    """A window key on its way behind the keys typed before it.

    ``deliberate``: it followed ``ctrl+]``, so what asks first for a single
    letter acts at once.
    """

    def __init__(self, key: str, *, deliberate: bool = False) -> None:
        super().__init__()
        self.key = key
        self.deliberate = deliberate


def send_behind(target: MessagePump, message: WindowKey) -> WindowKey:
    """Post ``message`` to the widget the keys typed before it went to."""
    target.post_message(message)
    return message


def typed(event: events.Event) -> bool:
    """Whether ``event`` is a key or a paste the app read from the terminal."""
    return isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded


class HeldKeys:
    """The keys typed while a :class:`WindowKey` is on its way, in typing order."""

    def __init__(self) -> None:
        self.awaited: WindowKey | None = None
        self.since = 0.0
        self.keys: deque[events.Event] = deque()

    def hold_until(self, message: WindowKey) -> None:
        self.awaited = message
        self.since = time.monotonic()

    def keep(self, event: events.Event) -> bool:
        """Keep ``event`` if a window key is on its way (and not overdue)."""
        if self.awaited is None or time.monotonic() - self.since > WINDOW_KEY_WAIT:
            return False
        self.keys.append(event)
        return True

    def back(self, message: WindowKey | None) -> list[events.Event]:
        """``message`` came back (None: the wait is over anyway): the keys to hand on."""
        if message is not None and message is not self.awaited:
            return []
        self.awaited = None
        kept, self.keys = list(self.keys), deque()
        return kept
