"""One-shot timers that fire late rather than never.

Textual's ``set_timer`` (8.x) runs a one-shot timer in its own task, which
reads the clock once when it starts and again right after; when the task is
descheduled between the two for longer than the delay (a loaded machine, a
garbage collection, another thread holding the GIL), the timer counts the
tick as missed and ends without calling back. With the terminal pane's 2 ms
frame delay this happens under load: a pane that waits for its pending frame
before scheduling another then never draws again, and never answers the
shell's queries. asyncio's ``call_later`` has no such skipping: the callback
runs, late if the loop is late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.message_pump import MessagePump


class Later:
    """Call ``callback`` on ``pump`` (as its own message, like ``set_timer`` does)
    once ``delay`` seconds have passed, however late the loop gets there."""

    def __init__(self, pump: MessagePump, delay: float, callback: Callable[[], object]) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(delay, pump.call_next, callback)

    def stop(self) -> None:
        """Cancel the call, if it has not happened yet."""
        self._handle.cancel()
