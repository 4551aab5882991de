"""The tokenizer: where each piece of terminal output starts and ends.

One set of rules, used by the terminal model (:class:`relay.terminal.TerminalModel`
applies the tokens to its screen) and by anything else that must agree with it
about what a byte stream contains, such as the output masker: if the masker
thought an OSC title ended where the model thought it went on, a secret could
be drawn on everyone's screen while the masker believed it hidden.

Input is bytes, in chunks cut anywhere; output is :class:`Token` objects whose
raw bytes, concatenated, are exactly the input (apart from what is still held
at the end of a feed). A sequence cut by the end of a chunk is held until the
next one; only a string sequence longer than :data:`MAX_HELD` characters is
handed out in pieces (``partial``/``continued``), so that a megabyte of OSC 52
or sixel data is never buffered::

    tokenizer = Tokenizer()
    for token in tokenizer.feed(chunk):
        token.kind, token.raw      # "text", b"hello"; "csi", b"\\x1b[1;31m" ...
    tokenizer.pending()            # the bytes held for the next feed

The rules are xterm.js's (its ``EscapeSequenceParser``, the VT500 state machine
of Paul Williams' "A parser for DEC's ANSI-compatible video terminals"), read
over UTF-8:

* UTF-8 is decoded first; a character cut by a chunk boundary is held. C1
  controls are the code points U+0080-U+009F, i.e. the bytes ``C2 80`` to
  ``C2 9F``; a lone byte 0x80-0x9F is not a control (it is invalid UTF-8, kept
  as text: the model draws U+FFFD there, as xterm does). Invalid bytes travel
  as lone surrogates (``surrogateescape``), so ``raw`` gives them back exactly,
  and inside a sequence they are ignored.
* ``text``: printable characters (U+0020-U+007E, U+00A0 and up).
* ``control``: one C0 control, DEL, or a C1 control that is not an introducer
  (IND ``\\x84``, NEL ``\\x85``, HTS ``\\x88``, ST ``\\x9c`` alone ...).
* ``esc``: ``ESC``, intermediates (``0x20-0x2F``), a final (``0x30-0x7E``).
* ``csi``: ``ESC [`` or ``\\x9b``, an optional private marker (``< = > ?``),
  parameters (``0-9 : ;``), intermediates, a final (``0x40-0x7E``). Anything
  else in between (a second marker, a parameter after an intermediate) makes
  it ignored: it still ends at its final, with ``aborted`` set.
* ``osc`` (``ESC ]``, ``\\x9d``): ends at BEL, ST (``ESC \\`` or ``\\x9c``), or
  at an ESC that starts another sequence (the OSC still takes effect).
* ``dcs`` (``ESC P``, ``\\x90``): parameters and a final, then data up to ST
  or an ESC. BEL does not end it.
* ``sos``, ``pm``, ``apc`` (``ESC X``, ``ESC ^``, ``ESC _``, ``\\x98``,
  ``\\x9e``, ``\\x9f``): ignored up to ST or an ESC. As in xterm.js, a
  character from U+00A0 up ends them too (and is dropped).
* Anywhere in a sequence: CAN or SUB aborts it (and belongs to it); ESC aborts
  it and starts the next one (the aborted token ends before the ESC); a C1
  control other than ST aborts it and is a token of its own; ST (``\\x9c``)
  ends it (and belongs to it).
* C0 controls inside an ``esc`` or ``csi`` sequence are executed where they
  are and the sequence goes on (``ESC [ 1 \\n A`` moves down, then up): they
  belong to the token, listed in ``controls``. Inside strings they are ignored
  (in DCS data they are data). DEL is ignored everywhere but in OSC bodies.
* A character from U+00A0 up aborts an ``esc``, ``csi`` or DCS header (it
  belongs to the token and is dropped), as in xterm.js.

``Token.raw`` is the exact bytes; ``Token.text`` the same as a ``str`` (lone
surrogates for invalid UTF-8). :data:`SIMPLE` and :data:`RUN` are the compiled
forms the model's fast path matches with; they only ever match whole tokens
(tests/relay/terminal/test_terminal_parser.py checks it on generated streams).
"""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple

TEXT = "text"
CONTROL = "control"
ESC = "esc"
CSI = "csi"
OSC = "osc"
DCS = "dcs"
SOS = "sos"
PM = "pm"
APC = "apc"
STRINGS = frozenset({OSC, DCS, SOS, PM, APC})

#: Characters of an unfinished sequence held for the next feed. A string sequence
#: past this is handed out in pieces; an unfinished ESC or CSI sequence past it
#: is garbage, handed out aborted (its remaining characters are then text).
MAX_HELD = 4096


class Token(NamedTuple):
    """One piece of terminal output, with its exact text and what it means.

    ``text.encode("utf-8", "surrogateescape")`` (:attr:`raw`) is its bytes.
    Fields a kind does not use are empty.
    """

    kind: str
    text: str
    #: ``csi``/``dcs``: parameter characters, with a leading private marker
    #: (``"?1049"``, ``">0"``, ``"38:2::1:2:3"``).
    params: str = ""
    #: ``esc``/``csi``/``dcs``: intermediate characters (``"("`` of ``ESC ( 0``).
    intermediates: str = ""
    #: ``esc``/``csi``/``dcs``: the final character; empty when aborted before it.
    final: str = ""
    #: Strings: the payload the terminal collects (OSC ``"0;title"``).
    body: str = ""
    #: Strings: ``"\\x07"``, ``"\\x1b\\\\"`` or ``"\\x9c"``; CAN/SUB when aborted by
    #: one; empty when ended by another sequence's ESC, aborted, or not ended yet.
    terminator: str = ""
    #: ``esc``/``csi``: C0 controls met inside, executed before the final.
    controls: str = ""
    #: The sequence has no effect: cancelled (CAN, SUB, ESC, a C1 control, a
    #: character it cannot hold) or malformed (an ignored CSI).
    aborted: bool = False
    #: A piece of a string sequence longer than :data:`MAX_HELD`; more follows.
    partial: bool = False
    #: This piece continues the string sequence of the previous token.
    continued: bool = False

    @property
    def raw(self) -> bytes:
        """The exact bytes of the token."""
        return self.text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------- the grammar

#: Characters that print: not C0, DEL or C1 (lone surrogates, invalid bytes, print as U+FFFD).
TEXT_CLASS = r"[^\x00-\x1f\x7f-\x9f]"
#: Well-formed tokens, as one alternation; anything it does not match at a
#: position (an ESC or C1 introducer starting something else) is for
#: :meth:`Tokenizer.next`'s state machine.
SIMPLE = re.compile(
    rf"(?P<text>{TEXT_CLASS}+)"
    r"|\x1b\[(?P<csi>[<=>?]?[0-;]*)(?P<csi_i>[ -/]*)(?P<csi_f>[@-~])"
    r"|(?P<ctl>[\x00-\x1a\x1c-\x1f\x7f\x80-\x8f\x91-\x97\x99\x9a\x9c])"
    r"|\x1b(?![\[\]PX^_])(?P<esc_i>[ -/]*)(?P<esc_f>[0-~])"
    rf"|\x1b\](?P<osc>[^\x00-\x1f\x7f-\x9f]*)(?P<osc_t>\x07|\x1b\\|\x9c)"
)

#: :data:`SIMPLE`, or else the one character that starts anything else (an ESC or
#: C1 introducer the state machine must read): a scanner over this never skips.
SIMPLE_OR_START = re.compile(SIMPLE.pattern + r"|(?P<start>[\s\S])")

#: What makes a sequence of its own kind right after ESC (and its C1 form).
_INTRODUCERS = {"[": CSI, "]": OSC, "P": DCS, "X": SOS, "^": PM, "_": APC}
_C1_INTRODUCERS = {"\x9b": CSI, "\x9d": OSC, "\x90": DCS, "\x98": SOS, "\x9e": PM, "\x9f": APC}
#: Where a string's body stops: a terminator, an abort, or (SOS/PM/APC) non-ASCII.
_STRING_STOP = {
    OSC: re.compile(r"[\x07\x18\x1a\x1b\x80-\x9f]"),
    DCS: re.compile(r"[\x18\x1a\x1b\x80-\x9f]"),
    SOS: re.compile(r"[\x18\x1a\x1b\x80-\x9f\xa0-\ud7ff\ue000-\U0010ffff]"),
}
_STRING_STOP[PM] = _STRING_STOP[APC] = _STRING_STOP[SOS]
#: C0 controls a string ignores (not BEL, CAN, SUB, ESC): removed from OSC bodies.
_IGNORED_IN_STRINGS = re.compile(r"[\x00-\x06\x08-\x17\x19\x1c-\x1f]")


def _executed(char: str) -> bool:
    """C0 controls executed inside an ESC or CSI sequence (all but CAN, SUB, ESC)."""
    return char < "\x18" or char == "\x19" or "\x1c" <= char < "\x20"


#: Bytes that were not UTF-8, as ``surrogateescape`` decodes them (``chr``: mypyc
#: cannot compile surrogates in string literals).
_SURROGATE_LOW, _SURROGATE_HIGH = chr(0xDC80), chr(0xDCFF)


def _surrogate(char: str) -> bool:
    return _SURROGATE_LOW <= char <= _SURROGATE_HIGH


class Tokenizer:
    """Bytes in chunks, tokens out; an unfinished sequence is held for the next chunk."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._held = ""  # an unfinished sequence, as text
        self._string = ""  # kind of a string handed out in pieces, still going on
        self._string_head = ""  # its first MAX_HELD characters, for pending()
        self._string_aborted = False  # it is an ignored DCS

    def feed(self, data: bytes) -> list[Token]:
        """The tokens that ``data`` completes, in order."""
        text = self.decode(data)
        tokens: list[Token] = []
        pos, end = 0, len(text)
        while pos < end:
            found = self.next(text, pos)
            if found is None:
                break
            token, pos = found
            tokens.append(token)
        return tokens

    def decode(self, data: bytes) -> str:
        """``data`` as text, after what was held: what :meth:`next` scans."""
        text = self._decoder.decode(data)
        if self._held:
            text, self._held = self._held + text, ""
        return text

    @property
    def in_string(self) -> bool:
        """Whether a string sequence handed out in pieces goes on (:meth:`next` continues it)."""
        return bool(self._string)

    def pending(self) -> bytes:
        """What is held: fed to a fresh tokenizer, it continues exactly as this one."""
        text = self._held
        if self._string:
            text = self._string_head + text
        return text.encode("utf-8", "surrogateescape") + self._decoder.getstate()[0]

    def hold(self, text: str) -> None:
        """Keep ``text``, an unfinished sequence ending what :meth:`decode` gave, for the next feed.

        As :meth:`next` would on reaching it: the model's fast path, which defers
        a feed of plain output cut inside its last SGR, draws the rest later.
        """
        self._held = text

    def reset(self) -> None:
        """Forget what is held: the next feed starts afresh (the stream had a gap)."""
        self._decoder.reset()
        self._held = self._string = self._string_head = ""
        self._string_aborted = False

    # ------------------------------------------------------------ scanning

    def next(self, text: str, pos: int) -> tuple[Token, int] | None:
        """The token at ``text[pos:]`` and where it ends, or None: the rest is held."""
        if self._string:
            return self._string_piece(
                text, pos, self._string, pos, continued=True, ignored=self._string_aborted
            )
        m = SIMPLE.match(text, pos)
        if m is not None:
            return _simple(m), m.end()
        char = text[pos]
        if char == "\x1b":
            if pos + 1 == len(text):
                return self._hold(text, pos, ESC)
            kind = _INTRODUCERS.get(text[pos + 1])
            if kind is None:
                return self._escape(text, pos)
            body = pos + 2
        else:  # a C1 introducer: every other character is in SIMPLE
            kind = _C1_INTRODUCERS[char]
            body = pos + 1
        if kind == CSI:
            return self._csi(text, pos, body)
        if kind == DCS:
            return self._dcs(text, pos, body)
        return self._string_piece(text, pos, kind, body)

    def _hold(self, text: str, pos: int, kind: str) -> tuple[Token, int] | None:
        """Hold ``text[pos:]`` for the next feed, or hand a runaway sequence out, aborted."""
        if len(text) - pos <= MAX_HELD:
            self._held = text[pos:]
            return None
        end = pos + MAX_HELD
        return Token(kind, text[pos:end], aborted=True), end

    def _escape(self, text: str, pos: int) -> tuple[Token, int] | None:
        """ESC, intermediates, final, with C0 controls executed on the way."""
        inter, controls = "", ""
        i, n = pos + 1, len(text)
        while i < n:
            c = text[i]
            if "\x20" <= c <= "\x2f":
                inter += c
            elif "\x30" <= c <= "\x7e":
                if not inter and c in _INTRODUCERS:  # after controls: ESC \n [ ...
                    kind = _INTRODUCERS[c]
                    if kind == CSI:
                        return self._csi(text, pos, i + 1, controls)
                    if kind == DCS:
                        return self._dcs(text, pos, i + 1, controls)
                    return self._string_piece(text, pos, kind, i + 1, controls=controls)
                return Token(ESC, text[pos : i + 1], "", inter, c, controls=controls), i + 1
            elif _executed(c):
                controls += c
            elif c != "\x7f" and not _surrogate(c):
                return _aborted(ESC, text, pos, i, inter, controls)
            i += 1
        return self._hold(text, pos, ESC)

    def _csi(self, text: str, pos: int, body: int, controls: str = "") -> tuple[Token, int] | None:
        """Parameters, intermediates, final; a malformed one is read to its final, ignored."""
        params, inter = "", ""
        ignored = False
        i, n = body, len(text)
        while i < n:
            c = text[i]
            if "\x40" <= c <= "\x7e":
                token = Token(CSI, text[pos : i + 1], params, inter, c, controls=controls)
                return (token._replace(aborted=True) if ignored else token), i + 1
            if "\x20" <= c <= "\x3f":
                if ignored:
                    pass
                elif c >= "\x30" and (inter or (c >= "\x3c" and params)):
                    ignored = True  # a marker after parameters, a parameter after intermediates
                elif c >= "\x30":
                    params += c
                else:
                    inter += c
            elif _executed(c):
                controls += c
            elif c == "\x7f" or _surrogate(c) or (ignored and c >= "\xa0"):
                pass  # ignored, as by xterm.js
            else:  # CAN, SUB, ESC, a C1 control, a character a CSI cannot hold
                return _aborted(CSI, text, pos, i, inter, controls, params)
            i += 1
        return self._hold(text, pos, CSI)

    def _dcs(self, text: str, pos: int, body: int, controls: str = "") -> tuple[Token, int] | None:
        """The DCS header (parameters, intermediates, final), then its data as a string.

        C0 controls in the header are ignored; ``controls`` are those met
        between the ESC and the ``P``, which were executed.
        """
        params, inter = "", ""
        ignored = False
        i, n = body, len(text)
        while i < n:
            c = text[i]
            if not ignored and "\x40" <= c <= "\x7e":
                return self._string_piece(
                    text, pos, DCS, i + 1, controls=controls, header=(params, inter, c)
                )
            if "\x20" <= c <= "\x3f":
                if ignored:
                    pass
                elif c >= "\x30" and (inter or (c >= "\x3c" and params)):
                    ignored = True
                elif c >= "\x30":
                    params += c
                else:
                    inter += c
            elif c in "\x18\x1a\x1b" or "\x80" <= c <= "\x9f":
                # cancelled, or the end of an ignored one: the string rules take it from here
                return self._string_piece(text, pos, DCS, i, controls=controls, ignored=True)
            elif not (_executed(c) or c == "\x7f" or _surrogate(c) or ignored):
                return _aborted(DCS, text, pos, i, inter, controls, params)
            i += 1
        return self._hold(text, pos, DCS)

    def _string_piece(
        self,
        text: str,
        pos: int,
        kind: str,
        body: int,
        continued: bool = False,
        controls: str = "",
        header: tuple[str, str, str] = ("", "", ""),
        ignored: bool = False,
    ) -> tuple[Token, int] | None:
        """A string sequence from ``pos``, its body from ``body`` to its terminator.

        Held while unfinished and short; handed out in pieces past MAX_HELD.
        """
        stop = _STRING_STOP[kind].search(text, body)
        params, inter, final = header
        while stop is not None:
            s, c = stop.start(), stop.group()
            if c == "\x1b":
                if s + 1 == len(text):  # ST or another sequence: the next feed says
                    stop = None
                    break
                term = "\x1b\\" if text[s + 1] == "\\" else ""
                aborted = False
            elif c in "\x07\x9c":
                term, aborted = c, False
            elif c in "\x18\x1a":
                term, aborted = c, True
            elif c <= "\x9f":  # another C1 control: abandoned before it
                term, aborted = "", True
            else:  # SOS/PM/APC: a character it cannot hold (xterm.js)
                term, aborted = c, True
            end = s + len(term)
            self._string = self._string_head = ""
            self._string_aborted = False
            token = Token(
                kind,
                text[pos:end],
                params,
                inter,
                final,
                _body(kind, text[body:s]),
                term,
                controls,
                aborted or ignored,
                False,
                continued,
            )
            return token, end
        if not continued and len(text) - pos <= MAX_HELD:
            self._held = text[pos:]
            return None
        # A long string: hand out what is here, keep reading it in the next feed.
        end = len(text) - 1 if text.endswith("\x1b") else len(text)
        if end == pos:
            self._held = text[pos:]
            return None
        if not continued:
            self._string_head = text[pos:end][:MAX_HELD]
        self._string = kind
        self._string_aborted = ignored
        self._held = text[end:]
        body_text = _body(kind, text[body:end])
        token = Token(kind, text[pos:end], params, inter, final, body_text, "", controls)
        return token._replace(aborted=ignored, partial=True, continued=continued), len(text)


def _body(kind: str, body: str) -> str:
    """What the terminal collects of a string's body: OSC drops the C0 controls it ignores."""
    if kind == OSC and body and not body.isprintable():
        return _IGNORED_IN_STRINGS.sub("", body)
    return body


def _aborted(
    kind: str, text: str, pos: int, i: int, inter: str, controls: str, params: str = ""
) -> tuple[Token, int]:
    """A sequence cut at ``text[i]``: ESC and C1 controls start anew, the rest belong to it."""
    c = text[i]
    end = i if c == "\x1b" or ("\x80" <= c <= "\x9f" and c != "\x9c") else i + 1
    return Token(kind, text[pos:end], params, inter, controls=controls, aborted=True), end


def _simple(m: re.Match[str]) -> Token:
    kind = m.lastgroup
    text = m.group()
    if kind == "text":
        return Token(TEXT, text)
    if kind == "csi_f":
        return Token(CSI, text, m.group("csi"), m.group("csi_i"), m.group("csi_f"))
    if kind == "ctl":
        return Token(CONTROL, text)
    if kind == "esc_f":
        return Token(ESC, text, "", m.group("esc_i"), m.group("esc_f"))
    return Token(OSC, text, body=m.group("osc"), terminator=m.group("osc_t"))
