"""Typed input that must not be recorded: decided by what the target does with it.

A password is typed where the target does not echo it: the tty has echo off
(``read -s``, sudo, ssh's passphrase prompt, ``getpass``), so the keys reach
the program and nothing comes back. The relay sees both directions, so it
needs no list of prompts to know: input that the target does not echo back
is secret input. :class:`InputGuard` holds each piece of typed input until
its echo shows in the output (then it is recorded as typed) or until
:data:`ECHO_WAIT` passes without it (then it is secret). A run of secret
input is recorded as one ``secret-input`` marker: never its bytes, its
length or how many keys.

The echo is looked for where an echo appears: in the output's text (escape
sequences removed), on the current line, before the output moves the cursor
somewhere else. Output of a background job (complete lines) and a status
line drawn at another place of the screen (tmux's clock) are not taken for
an echo; a key the target does echo but in the middle of such output may be
judged secret, which errs on the safe side (the recording keeps the output,
masked, so nothing of an ordinary command is lost).

Some programs read a secret *with* echo on (``read -p 'AWS Secret Access Key:
'``, some installers). A recognised secret prompt (:data:`DEFAULT_PROMPT`:
password, passphrase, PIN, token, key, recovery code..., in several
languages; a newline after it is allowed) *arms* the guard: input is secret
until Enter, Ctrl-C or Ctrl-D whatever the echo, and the relay masks the
echo on the viewers' screens (:meth:`relay.masking.stream.OutputMasker.mask_echo`).

A prompt and the echo of what was typed can also arrive in one chunk of
output: the keys were on their way while the program printed the prompt
(typing fast, pasting), or the program drew the prompt and the line it read
in one write (readline does, for input typed ahead). Then the prompt is not
at the end of the output. :meth:`InputGuard.observe_output` looks for that
too, only while input waits for its echo: the echo of the waiting input on a
line whose text before it is a recognised prompt makes that input secret,
and the guard says where in the chunk the echo begins, so that the relay
masks it from there.

What cannot be caught: text typed *ahead* of a prompt, before the program
turned echo off, is echoed by the tty *before* the prompt and so recorded
like any typing; and a secret typed with echo on at a prompt the guard does
not recognise is recorded and shown like any other input, as it was shown on
the screen.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from relay.masking.sequences import TextMap, scan, text_of, unfinished

__all__ = ["DEFAULT_PROMPT", "ECHO_WAIT", "Decision", "InputGuard"]

ECHO_WAIT = 1.0
"""Seconds to wait for the echo of typed input before it counts as secret."""

ECHO_WINDOW = 16384
"""Bytes at the start of each output chunk where an echo is looked for."""

ECHO_PROBE = 64
"""Characters of waiting input looked for after a prompt inside a chunk (their echo)."""

_KEYWORDS = (
    rb"password|passwd|passphrase|pass phrase|passcode|pin|otp|one[- ]time (?:password|code|pin)"
    rb"|(?:verification|security|recovery|backup|authenticat(?:ion|or)|auth|access|mfa|2fa) code"
    rb"|2fa|mfa|token|secret|(?:api|access|secret|private|unseal|recovery|license|encryption"
    rb"|master|root|vault) key|credentials?"
    # German, Dutch, French, Spanish, Portuguese, Italian, Swedish, Danish, Finnish,
    # Polish, Russian, Chinese, Japanese, Korean.
    rb"|passwort|kennwort|wachtwoord|mot de passe|contrase\xc3\xb1a|contrasena|senha"
    rb"|parola|l\xc3\xb6senord|adgangskode|salasana|has\xc5\x82o|(?:\xd0\x9f|\xd0\xbf)\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c"
    rb"|\xe5\xaf\x86\xe7\xa0\x81|\xe5\xaf\x86\xe7\xa2\xbc|\xe3\x83\x91\xe3\x82\xb9\xe3\x83\xaf\xe3\x83\xbc\xe3\x83\x89"
    rb"|\xeb\xb9\x84\xeb\xb0\x80\xeb\xb2\x88\xed\x98\xb8"
)
DEFAULT_PROMPT = re.compile(
    rb"(?i)(?:^|[^a-z])(?:" + _KEYWORDS + rb")(?![a-z])[^\r\n]{0,100}?(?::|\?|\xef\xbc\x9a|>)"
    rb"[ \t*\x08]*(?:\r?\n)?\Z"
)
"""A secret prompt at the end of the output: ``Password:``, ``[sudo] password for
alice:``, ``Enter passphrase for key '...':``, ``Unseal Key (will be hidden):``,
``Enter API key:``, ``Passwort:``, a full-width colon after CJK. Stars and backspaces
after it are sudo's ``pwfeedback`` echo; a line break after it is a prompt that reads
on the next line."""

_PROMPT_ENDS = (b":", b"?", b">", b"\xef\xbc\x9a")  # what DEFAULT_PROMPT's last character is
_INPUT_ENDS = re.compile(rb"[\r\n\x03\x04]")
_ENDS_LINE = re.compile(rb"[\r\n]")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_PRINTABLE = re.compile(rb"[\x20-\x7e]|[\xc2-\xf4][\x80-\xbf]+")
# Output that draws somewhere else than where the typing is: absolute moves, saving
# and restoring the cursor, scroll regions, the alternate screen.
_ELSEWHERE = re.compile(
    rb"\x1b[78]|\x1b\[[0-9;?]*[HfdrsuJ]|\x1b\[\?(?:1049|1047|47)[hl]|\xc2\x9b[0-9;?]*[Hfd]"
)


def _echo_at(line: bytes, expect: bytes) -> int:
    """Where ``expect`` (or, at the line's end, a beginning of it) is in ``line``; -1: nowhere."""
    found = line.find(expect)
    if found >= 0:
        return found
    for size in range(min(len(expect), len(line)) - 1, 0, -1):
        if line.endswith(expect[:size]):
            return len(line) - size
    return -1


@dataclass(frozen=True)
class Decision:
    """What to record for typed input, in the order it was typed.

    ``data`` is the input to record as typed, or ``None`` for a run of
    secret input (one ``secret-input`` marker). ``user`` typed it at ``at``.
    """

    data: bytes | None
    user: str
    at: float


@dataclass
class _Typed:
    data: bytes
    user: str
    at: float
    expect: bytes  # the printable text its echo must show (empty: nothing to wait for)
    secret: bool = False  # typed at an armed prompt


class InputGuard:
    """Holds typed input until the target shows whether it echoes it (see the module).

    Pure: time is passed in. The relay calls :meth:`typed` for each piece of
    input it forwards, :meth:`observe_output` for the target's raw output,
    then :meth:`decide` to get what to record; :attr:`deadline` says when to
    call :meth:`decide` again if nothing else happens.
    """

    def __init__(self, prompt: re.Pattern[bytes] = DEFAULT_PROMPT, wait: float = ECHO_WAIT) -> None:
        self.prompt = prompt
        self.wait = wait
        self._pending: deque[_Typed] = deque()
        self._line = b""  # text of the output's last line, escapes removed
        self._partial = b""  # an unfinished escape sequence
        self._armed = False
        self._echo_open = False  # the echo of input typed at an armed prompt may still come
        self._in_secret = False  # a run of secret input is open (one marker for it)
        self._armed_inside = False  # a prompt inside the last chunk, its secret still typed
        self._decided: list[Decision] = []

    @property
    def armed(self) -> bool:
        """At a recognised secret prompt: input is secret and its echo must be masked."""
        return self._armed

    @property
    def masking_echo(self) -> bool:
        """Whether the next output may hold the echo of a secret typed at a prompt.

        From the recognised prompt until the output shows the line break that
        the Enter ending the secret echoes.
        """
        return self._echo_open

    @property
    def deadline(self) -> float | None:
        """When the oldest input waiting for its echo counts as secret."""
        for typed in self._pending:
            if typed.expect:
                return typed.at + self.wait
        return None

    def typed(self, data: bytes, user: str, now: float) -> None:
        """Input forwarded to the target; what Enter, Ctrl-C and Ctrl-D end is split off."""
        while data:
            m = _INPUT_ENDS.search(data)
            piece, data = (data, b"") if m is None else (data[: m.start()], data[m.start() :])
            if piece:
                expect = b"".join(_PRINTABLE.findall(piece))
                self._pending.append(_Typed(piece, user, now, expect, self._armed))
            if m is not None:  # the key that ends the line, a piece of its own
                self._pending.append(_Typed(data[:1], user, now, b"", self._armed))
                data = data[1:]
                self._armed = False

    def observe_output(self, data: bytes, now: float) -> int | None:
        """The target's raw output: echoes confirm pending input; prompts arm the guard.

        Returns where in ``data`` the echo of a secret begins when a
        recognised prompt and that echo came in this one chunk (see the
        module): the relay masks the output from there, as it masks what
        follows a prompt at a chunk's end (:attr:`masking_echo`). Else None.
        """
        partial = len(self._partial)
        raw = self._partial + data
        cut = unfinished(raw)
        raw, self._partial = raw[:cut], raw[cut:]
        inside = None
        if self._pending and not self._armed:
            inside = self._prompt_inside(raw)
            if inside is not None:
                inside = max(0, inside - partial)
        if self._pending:
            near = raw[:ECHO_WINDOW]  # an echo comes first: a flood after it is not read
            elsewhere = _ELSEWHERE.search(near)
            if elsewhere is not None:
                near = near[: elsewhere.start()]
            self._confirm(_LINE_BREAK.split(text_of(near)))
        # Only the last line can hold a prompt: the rest of a flood is not looked at.
        newline = raw.rfind(b"\n", 0, len(raw) - 1 if raw.endswith(b"\n") else len(raw))
        tail = raw[newline + 1 :]
        text = text_of(tail) if b"\x1b" in tail or b"\xc2" in tail else tail
        self._line = (self._line + text)[-512:] if newline < 0 else text[-512:]
        if self._echo_open and not self._armed and (b"\n" in raw or b"\r" in raw):
            self._echo_open = False
        if (
            text.strip(b"\x07")
            and self._line.rstrip(b" \t*\x08\r\n").endswith(_PROMPT_ENDS)
            and self.prompt.search(self._line)
        ):
            self._armed = self._echo_open = True
        if inside is not None and self._armed_inside:
            self._armed = True  # the secret is still being typed: the rest is secret too
            self._echo_open = True
        return inside

    def _prompt_inside(self, raw: bytes) -> int | None:
        """Where in ``raw`` the echo of waiting input follows a recognised prompt, if it does.

        The waiting input is the typing not confirmed yet, up to its Enter;
        its echo (the first :data:`ECHO_PROBE` characters, or as many as the
        chunk's end leaves) must directly follow text that the prompt
        expression takes for a secret prompt, on the same line. Then that
        input, and the Enter that ends it, are secret.
        """
        self._armed_inside = False
        waiting: list[_Typed] = []
        for typed in self._pending:
            if typed.secret:
                return None
            waiting.append(typed)
            if _ENDS_LINE.search(typed.data) or _INPUT_ENDS.search(typed.data):
                break
        expect = b"".join(t.expect for t in waiting)[:ECHO_PROBE]
        raw = raw[:ECHO_WINDOW]  # where _confirm looks for echoes too
        if not expect or not any(k in raw for k in _PROMPT_ENDS):
            return None
        found = scan(raw) if b"\x1b" in raw or b"\xc2" in raw or b" \r" in raw else None
        text = raw if found is None else found.text
        start = 0
        for brk in [*_LINE_BREAK.finditer(text), None]:
            line = text[start : len(text) if brk is None else brk.start()]
            where = _echo_at(line, expect)
            before = (self._line if start == 0 else b"") + line[: max(where, 0)]
            if (
                where >= 0
                and before.rstrip(b" \t").endswith(_PROMPT_ENDS)
                and self.prompt.search(before)
            ):
                for typed in waiting:
                    typed.secret = True
                self._armed_inside = not _INPUT_ENDS.search(waiting[-1].data)
                at = start + where
                return at if found is None else TextMap(raw, found).position(at)
            if brk is not None:
                start = brk.end()
        return None

    def decide(self, now: float) -> list[Decision]:
        """What to record now, in typing order: confirmed input, and secret runs."""
        while self._pending:
            typed = self._pending[0]
            if typed.secret:
                self._secret(typed)
            elif not typed.expect:
                self._record(typed)
            elif now >= typed.at + self.wait:
                self._secret(typed)  # no echo came: the target kept it to itself
            else:
                break
            self._pending.popleft()
        decided, self._decided = self._decided, []
        return decided

    def flush(self, now: float) -> list[Decision]:
        """Everything still waiting for its echo counts as secret (the session ends)."""
        for typed in self._pending:
            typed.secret = typed.secret or bool(typed.expect)
        decided = self.decide(now)
        if self._in_secret:
            decided.append(Decision(None, "", now))
            self._in_secret = False
        return decided

    # -- internals --------------------------------------------------------

    def _confirm(self, lines: list[bytes]) -> None:
        """Mark the pending input whose echo the output shows, in typing order.

        ``lines`` is the output's text cut at line breaks. Typing that an Enter
        follows is echoed on the line that Enter's echo (a line break) ends;
        typing after the last Enter, on the last line: earlier lines without an
        Enter to end them are someone else's output (a background job).
        """
        index, pos = 0, 0
        pending = list(self._pending)
        for i, typed in enumerate(pending):
            ends_line = _ENDS_LINE.search(typed.data) is not None
            if typed.secret or (not typed.expect and not ends_line):
                continue
            if ends_line:
                if index + 1 >= len(lines):
                    return  # its echo, the line break, has not come yet
                for earlier in pending[:i]:  # typing its line break ended, never echoed
                    earlier.secret = earlier.secret or bool(earlier.expect)
                index, pos = index + 1, 0
                typed.expect = b""
                continue
            if self._in_secret:
                return  # a secret run goes on until Enter, whatever the output shows
            if not any(_ENDS_LINE.search(t.data) for t in pending[i:]):
                if index != len(lines) - 1:
                    index, pos = len(lines) - 1, 0
                found = lines[index].find(typed.expect, pos)
                if found < 0:
                    return
                pos = found + len(typed.expect)
            else:
                # A line an Enter ends may wrap (a long command): its echo may run
                # over several rows before the line break of the Enter.
                joined = b"".join(lines[index:])
                found = joined.find(typed.expect, pos)
                if found < 0:
                    return
                end = found + len(typed.expect)
                while index + 1 < len(lines) and end > len(lines[index]):
                    end -= len(lines[index])
                    index += 1
                pos = end
            typed.expect = b""  # its echo is there: record it as typed

    def _record(self, typed: _Typed) -> None:
        if self._in_secret:
            self._decided.append(Decision(None, typed.user, typed.at))
            self._in_secret = False
        if typed.data:
            self._decided.append(Decision(typed.data, typed.user, typed.at))

    def _secret(self, typed: _Typed) -> None:
        self._in_secret = True
        if _INPUT_ENDS.search(typed.data):  # Enter (Ctrl-C, Ctrl-D) ends the run
            self._decided.append(Decision(None, typed.user, typed.at))
            self._in_secret = False
