"""Property tests: secrets of every kind in realistic output never reach a viewer.

The pipeline is the relay's (relay/net/live.py): the streaming masker, then the
masked stream fed to the terminal model and checked on the screen, the
correction sent right behind the frame. Generated streams put secrets after
line prefixes, inside colours, at cursor positions, in window titles, drawn
out of order, split into random frames and wrapped at random widths; after
each stream, no secret is on the rendered screen, in the title, in a
snapshot, or whole in the masked stream, nor in the recording made of that
stream or in its exports.

``make fuzz`` runs these with many more examples (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import io
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from relay.evidence.asciicast import iter_events, read_header
from relay.evidence.export import FORMATS, export
from relay.masking import OutputMasker
from relay.masking.screen import ScreenCheck
from relay.terminal import TerminalModel
from relay.trust.keys import SigningKey
from tests.recordings import new_recording

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64 = ALNUM + "+/"


@dataclass(frozen=True)
class Secret:
    shown: str  # how the program prints it
    body: str  # the part that must never be seen whole (8-character windows of it)


def _token(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_secret(kind: int, seed: int) -> Secret:
    rng = random.Random(seed)
    match kind % 9:
        case 0:
            body = _token(rng, 36)
            return Secret(f"ghp_{body}", body)
        case 1:
            body = _token(rng, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
            return Secret(f"AKIA{body}", body)
        case 2:
            body = _token(rng, 24)
            return Secret(f"password={body}", body)
        case 3:
            body = _token(rng, 14, ALNUM + "!%^")
            return Secret(f"postgres://app:{body}@db:5432/app", body)
        case 4:
            body = _token(rng, 30, ALNUM + "_-")
            return Secret(f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{body}", body)
        case 5:
            body = _token(rng, 24)
            return Secret(f"xoxb-1234567890-{body}", body)
        case 6:
            body = _token(rng, 20, ALNUM + "-_")
            return Secret(f"glpat-{body}", body)
        case 7:
            body = _token(rng, 40, ALNUM + "/+")
            return Secret(f"aws_secret_access_key = {body}", body)
        case _:
            body = _token(rng, 22)
            return Secret(f"Authorization: Bearer {body}", body)


KEY = [_token(random.Random(90 + i), 64, B64) for i in range(5)]


def key_lines() -> list[str]:
    return ["-----BEGIN RSA PRIVATE KEY-----", *KEY, "-----END RSA PRIVATE KEY-----"]


def windows(body: str, size: int = 8) -> list[str]:
    return [body[i : i + size] for i in range(0, max(1, len(body) - size + 1), 3)]


# One line of output around a secret, in the ways programs print.
LAYOUTS = [
    "{s}",
    "2024-05-01T12:00:00Z INFO [worker-3] {s} done",
    "     12\t{s}",
    "\x1b[35mconfig.env\x1b[m\x1b[36m:\x1b[m\x1b[32m7\x1b[m\x1b[36m:\x1b[m{s}",
    "$ export {s}",
    "\x1b[1m{s}\x1b[0m",
    "{colour}",
]


def colour_inside(shown: str, rng: random.Random) -> str:
    """SGR codes scattered through the text (not through the sequences)."""
    out = []
    for ch in shown:
        if rng.random() < 0.1:
            out.append(rng.choice(["\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x1b[m"]))
        out.append(ch)
    return "".join(out)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[bytes, list[Secret], int, int, list[int], list[bool]]:
    """A stream with secrets, the secrets, a screen size, frame cuts and idle flushes."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    cols = draw(st.integers(20, 120))
    rows = draw(st.integers(4, 30))
    parts: list[str] = []
    secrets: list[Secret] = []
    for _ in range(draw(st.integers(1, 5))):
        how = draw(st.integers(0, 5))
        secret = make_secret(draw(st.integers(0, 8)), rng.randrange(2**30))
        secrets.append(secret)
        if how == 0:  # a plain line, in one of the layouts
            layout = rng.choice(LAYOUTS)
            line = layout.format(s=secret.shown, colour=colour_inside(secret.shown, rng))
            parts.append(line + "\r\n")
        elif how == 1:  # drawn at a position of the screen, as a full-screen program does
            row = rng.randint(1, rows)
            parts.append(f"\x1b[{row};1H{secret.shown}\x1b[K\x1b[{rows};1H\r\n")
        elif how == 2:  # the window title (bash's DEBUG trap)
            parts.append(f"\x1b]0;{secret.shown}\x07")
        elif how == 3 and len(secret.shown) < cols:  # drawn out of order: the end first
            row = rng.randint(1, rows)
            cut = rng.randint(len(secret.shown) - len(secret.body) + 4, len(secret.shown) - 4)
            head, tail = secret.shown[:cut], secret.shown[cut:]
            parts.append(f"\x1b[{row};{cut + 1}H{tail}\x1b[{row};1H{head}\x1b[{rows};1H\r\n")
        elif how == 4:  # typed at a prompt, echoed key by key, wrapped by bash at the edge
            prompt = "$ export "
            parts.append(prompt)
            col = len(prompt)
            for ch in secret.shown:
                parts.append(ch)
                col += 1
                if col % cols == 0:
                    parts.append(" \r")
            parts.append("\r\n")
        else:  # a private key, numbered like cat -n
            parts.append("".join(f"{i + 1:6}\t{line}\r\n" for i, line in enumerate(key_lines())))
            secrets.append(Secret("", "".join(KEY)))
        if draw(st.booleans()):
            parts.append("ordinary output, nothing to hide\r\n")
    data = "".join(parts).encode()
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    flushes = [draw(st.booleans()) for _ in range(len(cuts) + 1)]
    return data, secrets, cols, rows, cuts, flushes


def relay_pipeline(
    data: bytes, cols: int, rows: int, cuts: list[int], flushes: list[bool]
) -> tuple[bytes, TerminalModel]:
    """The masked stream and the viewers' model, as relay/net/live.py makes them."""
    masker = OutputMasker()
    check = ScreenCheck()
    model = TerminalModel(cols, rows)
    stream = bytearray()
    bounds = [0, *cuts, len(data)]

    def publish(frame: bytes) -> None:
        if frame:
            model.feed(frame)
            correction, _ = check.check(model, frame)
            stream.extend(frame + correction)

    for i in range(len(bounds) - 1):
        publish(masker.feed(data[bounds[i] : bounds[i + 1]])[0])
        if flushes[i]:  # the output went idle for a while
            publish(masker.flush()[0])
    publish(masker.flush(end_of_stream=True)[0])
    return bytes(stream), model


def screen_text(model: TerminalModel) -> str:
    return "".join(model.display())


@given(sessions())
def test_no_secret_reaches_the_viewers_screen_title_snapshot_or_stream(
    case: tuple[bytes, list[Secret], int, int, list[int], list[bool]],
) -> None:
    data, secrets, cols, rows, cuts, flushes = case
    stream, model = relay_pipeline(data, cols, rows, cuts, flushes)
    shown = screen_text(model)
    late = TerminalModel(cols, rows)  # a late joiner starts from the snapshot
    late.feed(model.snapshot())
    for secret in secrets:
        assert secret.body.encode() not in stream
        for window in windows(secret.body):
            assert window not in shown, (secret, shown)
            assert window not in model.title
            assert window not in screen_text(late)
            assert window.encode() not in model.snapshot()


SIGNING_KEY = SigningKey.generate()


@given(sessions())
def test_no_secret_reaches_the_recording_or_an_export(
    case: tuple[bytes, list[Secret], int, int, list[int], list[bool]],
) -> None:
    """The recorder writes the masked stream; the exports are made from the recording."""
    data, secrets, cols, rows, cuts, flushes = case
    stream, _ = relay_pipeline(data, cols, rows, cuts, flushes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.cast"
        script = new_recording(path, SIGNING_KEY, cols, rows)
        script.out(stream)
        script.rec.close("the shell exited", script.at(1.0).now)
        recorded = "".join(e.data for e in iter_events(path, read_header(path)) if e.code == "o")
        files = [path.read_text()]
        exports = []
        for fmt in FORMATS:
            out = io.StringIO()
            export(path, out, fmt)
            exports.append(out.getvalue())
    assert recorded == stream.decode("utf-8", "replace")
    for secret in secrets:
        for text in (recorded, *files, *exports):
            assert secret.body not in text
