"""The terminal model: what the shared shell's screen looks like after its output.

The relay feeds every byte the shell prints into a :class:`TerminalModel` (lazily,
off the fan-out path) so that a late joiner or a client that fell behind can be
sent :meth:`TerminalModel.snapshot` instead of the whole history; the TUI renders
the shell with the same model. Both uses need the model to agree with a real
xterm on everything a full-screen program can do, and the snapshot to be exact:
a fresh model (or xterm) fed the snapshot and then the same continuation bytes
must end up in the same state as the model that made it.

The model is built on :class:`pyte.Screen` (cursor motion, tabs, charsets, titles
come from pyte) but fixes what the product needs and pyte 0.8.2 lacks:

* its own parser instead of :class:`pyte.Stream`: a regex tokenizer that passes
  whole text runs to the screen, keeps an incomplete escape sequence or UTF-8
  character across feeds, understands the full ECMA-48 CSI grammar (sub-params
  ``38:2::r:g:b`` and ``4:3``, private markers ``<=>``, intermediates such as
  ``CSI ! p``) and swallows DCS/APC/PM/SOS strings, all of which pyte either
  misreads (``CSI > 4;1 m`` turned underline on) or prints as text;
* the alternate screen (pyte issue #90): DEC modes 47, 1047, 1048 and 1049 with
  one saved cursor per buffer, as xterm does;
* xterm semantics where pyte differs: background-colour erase, a single DECSC
  slot instead of a stack, ``CUU``/``CUD``/``IND`` outside the scroll region,
  the pending-wrap state after writing the last column, wide characters that do
  not fit, zero-width joiners (pyte stopped drawing at the first one);
* cells carry ``dim`` and ``conceal`` and colours in Rich's syntax, with 256-colour
  indexes kept as indexes (pyte flattened them to RGB, so a snapshot could not
  give an xterm its own palette back).

Modules: :mod:`relay.terminal.screen` (cells, buffers, modes),
:mod:`relay.terminal.model` (the parser and :class:`TerminalModel`),
:mod:`relay.terminal.snapshot` (the bytes that rebuild a model elsewhere).
"""

from relay.terminal.model import TerminalModel
from relay.terminal.screen import ANSI_COLOURS, BLANK, Cell, Line, TerminalScreen
from relay.terminal.snapshot import render

__all__ = ["ANSI_COLOURS", "BLANK", "Cell", "Line", "TerminalModel", "TerminalScreen", "render"]
