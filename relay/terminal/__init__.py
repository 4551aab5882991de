"""The terminal model: what the shared shell's screen looks like after its output.

The relay feeds every byte the shell prints into a :class:`TerminalModel` (lazily,
off the fan-out path) so that a late joiner or a client that fell behind can be
sent :meth:`TerminalModel.snapshot` instead of the whole history; the TUI renders
the shell with the same model. Both uses need the model to agree with a real
xterm on everything a full-screen program can do, and the snapshot to be exact:
a fresh model (or xterm) fed the snapshot and then the same continuation bytes
must end up in the same state as the model that made it.

The reference is xterm.js, the emulator behind VS Code's terminal: the model
behaves as it does (tests/relay/terminal/test_terminal_oracle.py compares them cell by cell)
except where docs/terminal.md lists a deliberate deviation towards real xterm.
Besides the screen, it keeps a bounded scrollback, the input modes a client
needs (cursor keys, bracketed paste, mouse), and the answers to device queries.

Modules, one concept each:

* :mod:`relay.terminal.parser`: the tokenizer (where each sequence starts and
  ends; shared with the output masker);
* :mod:`relay.terminal.model`: :class:`TerminalModel`, which applies the
  tokens and is what renderers read;
* :mod:`relay.terminal.screen`: the buffers, cursor and modes, and what each
  control does; :mod:`relay.terminal.fastpath` applies runs of plain output at
  once; :mod:`relay.terminal.scrollback` keeps what scrolled off;
  :mod:`relay.terminal.motion` moves the cursor;
* :mod:`relay.terminal.cells`: cells, pens and SGR; :mod:`relay.terminal.modes`:
  mode numbers and the deviations;
* :mod:`relay.terminal.snapshot`: the bytes that rebuild a model elsewhere.

May import the standard library only: the model knows nothing of sessions,
sockets or secrets, so the relay, the masker, replay and the TUI can all use it.
"""

from relay.terminal.cells import ANSI_COLOURS, BLANK, Cell, Line
from relay.terminal.model import TerminalModel
from relay.terminal.screen import TerminalScreen
from relay.terminal.snapshot import render

__all__ = ["ANSI_COLOURS", "BLANK", "Cell", "Line", "TerminalModel", "TerminalScreen", "render"]
