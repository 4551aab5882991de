"""Typed input that must not be recorded: the answer to a password prompt."""

from __future__ import annotations

import re

from relay.masking.sequences import NOT_TEXT as _ESC
from relay.masking.sequences import unfinished as _escape_cut

# --------------------------------------------------------------------------
# Password prompts


DEFAULT_PROMPT = re.compile(
    rb"(?i)\b(?:password|passwd|passphrase|pass phrase|passcode|pin|otp"
    rb"|one[- ]time (?:password|code|pin)|verification code|security code"
    rb"|authenticat(?:ion|or) code|2fa|mfa|token|secret)\b"
    rb"[^\r\n]{0,100}?[:?][ \t*\x08]*\Z"
)
"""A password prompt at the end of the output: ``Password:``, ``[sudo] password for
alice:``, ``Enter passphrase for key '...':``, ``Enter PIN:``, ``Verification code:``,
``OTP:``, ``Token:``. Stars and backspaces after it are sudo's ``pwfeedback`` echo."""

# Output that leaves the prompt's line: a line feed, clearing the screen, moving the
# cursor to an absolute position, or a terminal reset.
_LEAVES_LINE = re.compile(rb"\n|\x1b\[[0-9;?]*[HfJ]|\x1bc")
_INPUT_ENDS = re.compile(rb"[\r\n\x03\x04]")


class InputGuard:
    """Tells whether typed input answers a password prompt.

    The relay shows it the shell's raw output (:meth:`observe_output`) and asks
    about each piece of input (:meth:`classify_input`). After output that ends
    with a password prompt, the guard is *armed*: input is secret, to be
    forwarded to the shell but neither recorded nor shown to viewers, until the
    input ends it (Enter, ctrl-c, ctrl-d) or the output leaves the prompt's
    line (a new line, a cleared screen). Output on the prompt's own line, such
    as sudo's ``*`` feedback or the echo of a program that reads with echo on,
    keeps it armed. The relay marks the input it kept out of the record with a
    ``Masking(SECRET_INPUT)``.

    The guard errs on the side of secrecy: a command line that itself ends in
    ``password:`` arms it too, until Enter.
    """

    def __init__(self, prompt: re.Pattern[bytes] = DEFAULT_PROMPT) -> None:
        self.prompt = prompt
        self._line = b""  # text of the output's last line, escapes removed
        self._partial_escape = b""
        self._armed = False

    @property
    def armed(self) -> bool:
        """Whether the next input is secret."""
        return self._armed

    def observe_output(self, data: bytes) -> None:
        """Follow the shell's output (raw, before masking)."""
        raw = self._partial_escape + data
        cut = _escape_cut(raw)
        raw, self._partial_escape = raw[:cut], raw[cut:]
        left = _LEAVES_LINE.search(raw) is not None
        text = _ESC.sub(b"", raw) if b"\x1b" in raw else raw
        newline = text.rfind(b"\n")
        if newline >= 0:
            self._line = text[newline + 1 :]
        elif left:
            self._line = text
        else:
            self._line = (self._line + text)[-512:]
        if text.strip(b"\x07") and self.prompt.search(self._line):
            self._armed = True
        elif left:
            self._armed = False

    def classify_input(self, data: bytes) -> bool:
        """Whether ``data`` (or part of it) is secret; Enter, ctrl-c or ctrl-d disarms.

        When ``data`` holds more than the end of the secret (a paste of
        ``hunter2\\rls\\r``), all of it is reported secret; :meth:`split_input`
        tells the parts apart.
        """
        return any(secret for _, secret in self.split_input(data))

    def split_input(self, data: bytes) -> list[tuple[bytes, bool]]:
        """``data`` cut into (piece, is_secret), the secret piece ending with its Enter."""
        if not self._armed or not data:
            return [(data, False)] if data else []
        m = _INPUT_ENDS.search(data)
        if m is None:
            return [(data, True)]
        self._armed = False
        pieces = [(data[: m.end()], True)]
        if m.end() < len(data):
            pieces.append((data[m.end() :], False))
        return pieces

    def disarm(self) -> None:
        """Forget a prompt (the relay knows better, e.g. the session was reset)."""
        self._armed = False
