"""xterm.js headless as an oracle: the same bytes fed to it and to the model, compared.

``tests/oracle/`` pins ``@xterm/headless`` and ``@xterm/addon-unicode11`` (package.json
and its lock file; ``.ci/run`` runs ``npm ci`` there). :class:`Oracle` keeps one node
process (``tests/oracle/xterm_screen.js``) for the test session and asks it for the
screen a stream leaves; :func:`xterm_view` and :func:`model_view` put both answers in
one comparable shape: rows of ``(text, fg, bg, flags)`` cells, where a colour is None
(default), a palette index or ``"#rrggbb"`` (the model's ``"red"`` and ``"color(1)"``
are both palette 1 to xterm.js), and a blank is ``" "`` whether it was written, erased
or never touched, or holds only zero-width characters that had nothing to join (xterm.js
gives them a column of their own, the model too, after a space).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from relay.terminal import ANSI_COLOURS, Cell, TerminalModel

ORACLE_DIR = Path(__file__).parent / "oracle"
SCRIPT = ORACLE_DIR / "xterm_screen.js"

#: One cell as compared: text (``""`` for the right half of a wide character), fg, bg, flags.
ViewCell = tuple[str, Any, Any, str]
View = dict[str, Any]

_FLAGS = (
    ("bold", "b"),
    ("dim", "d"),
    ("italics", "i"),
    ("underscore", "u"),
    ("blink", "k"),
    ("reverse", "r"),
    ("conceal", "h"),
    ("strikethrough", "s"),
)
_MOUSE = {"none": 0, "x10": 9, "vt200": 1000, "drag": 1002, "any": 1003}
_ENCODING = {"DEFAULT": 0, "SGR": 1006, "SGR_PIXELS": 1016}


def missing() -> str | None:
    """Why the oracle cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (CI installs nodejs; see .ci/run)"
    if not (ORACLE_DIR / "node_modules" / "@xterm" / "headless").is_dir():
        return f"the xterm.js packages are not installed: run 'npm ci' in {ORACLE_DIR}"
    return None


class Oracle:
    """One long-lived node process answering one request per line."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["node", str(SCRIPT)],
            cwd=ORACLE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, data: bytes, cols: int, rows: int, **options: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        request = {"cols": cols, "rows": rows, "data": base64.b64encode(data).decode(), **options}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the xterm.js oracle exited ({self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def screen(
        self, data: bytes, cols: int, rows: int, scrollback: int = 1000, ignore_osc8: bool = True
    ) -> View:
        """What xterm.js shows after ``data`` (one write), in :func:`model_view`'s shape."""
        return xterm_view(self.ask(data, cols, rows, scrollback=scrollback, ignoreOsc8=ignore_osc8))

    def screen_after_steps(
        self, steps: list[bytes | tuple[int, int]], cols: int, rows: int, scrollback: int = 1000
    ) -> View:
        """What xterm.js shows after writes (bytes) and resizes (cols, rows), in order."""
        encoded: list[dict[str, Any]] = [
            {"resize": list(step)}
            if isinstance(step, tuple)
            else {"data": base64.b64encode(step).decode()}
            for step in steps
        ]
        answer = self.ask(b"", cols, rows, scrollback=scrollback, ignoreOsc8=True, steps=encoded)
        return xterm_view(answer)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)


# ---------------------------------------------------------------------- comparable views


def _xterm_cell(cell: list[Any], after_wide: bool) -> ViewCell:
    chars, width, fg, bg, flags = cell
    if width == 0:
        # the right half of a wide character, or a zero-width character printed
        # with nothing to join (xterm.js gives it a column of its own)
        return ("" if after_wide else " ", fg, bg, flags)
    return (_blank_if_space(chars or " "), fg, bg, flags)


def _blank_if_space(text: str) -> str:
    """A space with zero-width characters joined to it shows as a space."""
    return " " if text[:1] == " " else text


def _colour(colour: str) -> Any:
    if colour == "default":
        return None
    if colour.startswith("#"):
        return colour
    if colour.startswith("color("):
        return int(colour[6:-1])
    if colour.startswith("bright_"):
        return 8 + ANSI_COLOURS.index(colour[7:])
    return ANSI_COLOURS.index(colour)


def _model_cell(cell: Cell) -> ViewCell:
    flags = "".join(code for name, code in _FLAGS if getattr(cell, name))
    return (_blank_if_space(cell.data), _colour(cell.fg), _colour(cell.bg), flags)


def _rows(lines: list[list[Any]], cols: int) -> list[list[ViewCell]]:
    blank: ViewCell = (" ", None, None, "")
    rows = []
    for line in lines:
        row = [_xterm_cell(c, x > 0 and line[x - 1][1] == 2) for x, c in enumerate(line)]
        rows.append(row + [blank] * (cols - len(line)))
    return rows


def xterm_view(answer: dict[str, Any]) -> View:
    normal = answer["normal"]
    cols = len(normal["screen"][0]) if normal["screen"] and normal["screen"][0] else 0
    alternate = answer["alternate"]
    modes = answer["modes"]
    return {
        "alternate": answer["active"] == "alternate",
        "screen": _rows((alternate or normal)["screen"], cols),
        "main": _rows(normal["screen"], cols),
        "history": _rows(normal["history"], cols),
        "cursor": tuple(answer["cursor"]),
        "cursor_hidden": answer["cursorHidden"],
        "modes": {
            "application_cursor": modes["applicationCursorKeys"],
            "app_keypad": modes["applicationKeypad"],
            "bracketed_paste": modes["bracketedPaste"],
            "insert": modes["insert"],
            "mouse_protocol": _MOUSE[modes["mouseTracking"]],
            "mouse_encoding": _ENCODING[modes["mouseEncoding"]],
            "origin": modes["origin"],
            "focus_events": modes["sendFocus"],
            "autowrap": modes["wraparound"],
        },
        "title": answer["title"],
        "replies": answer["replies"].encode("utf-8", "surrogateescape"),
    }


def model_view(model: TerminalModel) -> View:
    """The model in the oracle's shape (its replies are taken: call it once)."""
    s = model.screen
    main = s.inactive if s.alternate else s.buffer

    def grid(buffer: Any) -> list[list[ViewCell]]:
        return [[_model_cell(cell) for cell in row] for row in buffer]

    return {
        "alternate": model.alternate,
        "screen": grid(s.buffer),
        "main": grid(main),
        "history": [[_model_cell(c) for c in model.line(y)] for y in range(-len(model.history), 0)],
        "cursor": (s.cursor.x, s.cursor.y),
        "cursor_hidden": not model.cursor_visible,
        "modes": {
            "application_cursor": model.application_cursor,
            "app_keypad": model.app_keypad,
            "bracketed_paste": model.bracketed_paste,
            "insert": 4 in s.mode,
            "mouse_protocol": model.mouse_protocol,
            "mouse_encoding": model.mouse_encoding,
            "origin": (6 << 5) in s.mode,
            "focus_events": model.focus_events,
            "autowrap": model.autowrap,
        },
        "title": model.title,
        "replies": model.take_replies(),
    }


def differences(ours: View, theirs: View) -> list[str]:
    """Where two views differ, one line each (the first differing cell of a row)."""
    out = []
    for key in ours:
        if key in ("screen", "main", "history"):
            if len(ours[key]) != len(theirs[key]):
                out.append(f"{key}: {len(ours[key])} rows, xterm.js {len(theirs[key])}")
            for y, (a, b) in enumerate(zip(ours[key], theirs[key], strict=False)):
                if a != b:
                    x = next(
                        (i for i, (ca, cb) in enumerate(zip(a, b, strict=False)) if ca != cb),
                        min(len(a), len(b)),
                    )
                    text_a = "".join(c[0] for c in a)
                    text_b = "".join(c[0] for c in b)
                    cell_a = a[x] if x < len(a) else None
                    cell_b = b[x] if x < len(b) else None
                    out.append(
                        f"{key} row {y} col {x}: {cell_a} vs xterm.js {cell_b}\n"
                        f"    ours   {text_a!r}\n    xterm  {text_b!r}"
                    )
        elif ours[key] != theirs[key]:
            out.append(f"{key}: {ours[key]!r} vs xterm.js {theirs[key]!r}")
    return out


def feed_model(data: bytes, cols: int, rows: int, scrollback: int = 1000) -> TerminalModel:
    model = TerminalModel(cols, rows, scrollback)
    model.feed(data)
    return model
