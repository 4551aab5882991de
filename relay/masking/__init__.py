"""Secret masking for a shared shell: what viewers and the recording may see.

One concept per module, all pure (no I/O, no clock):

* :mod:`relay.masking.patterns`: what a secret looks like (:class:`SecretPattern`,
  :data:`DEFAULT_PATTERNS`, :func:`parse_patterns` for the config);
* :mod:`relay.masking.prefix`: a pattern's regex taken apart, and the prefix
  closure that tells the streaming masker what it must hold back;
* :mod:`relay.masking.sequences`: where escape sequences end, by the terminal
  model's tokenizer (:mod:`relay.terminal.parser`);
* :mod:`relay.masking.stream`: :class:`OutputMasker`, the streaming masker;
* :mod:`relay.masking.text`: :func:`mask_text` for chat messages and reasons;
* :mod:`relay.masking.input`: :class:`InputGuard`, typed input that must not
  be recorded.

May import the core and the terminal's tokenizer (:mod:`relay.terminal.parser`),
so that the masker and the screen agree on where every sequence ends.
"""

from __future__ import annotations

from relay.masking.errors import PatternError
from relay.masking.input import DEFAULT_PROMPT, InputGuard
from relay.masking.patterns import DEFAULT_PATTERNS, SecretPattern, parse_patterns
from relay.masking.stream import DEFAULT_MAX_HOLDBACK, SECRET_INPUT, Masking, OutputMasker
from relay.masking.text import mask_text, normalise

__all__ = [
    "DEFAULT_MAX_HOLDBACK",
    "DEFAULT_PATTERNS",
    "DEFAULT_PROMPT",
    "SECRET_INPUT",
    "InputGuard",
    "Masking",
    "OutputMasker",
    "PatternError",
    "SecretPattern",
    "mask_text",
    "normalise",
    "parse_patterns",
]
