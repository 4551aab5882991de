"""The screen check: secrets drawn out of order are masked where the viewers see them."""

from __future__ import annotations

import pytest

from relay.masking import OutputMasker
from relay.masking.screen import ScreenCheck, correct
from relay.terminal import TerminalModel
from tests.relay.terminal.test_terminal import state

PASSWORD = "correct-horse-battery-staple"
AWS = "AKIAIOSFODNN7EXAMPLQ"


class Relay:
    """The masked stream as relay/net/live.py makes it: masker, model, screen check."""

    def __init__(self, cols: int = 40, rows: int = 8) -> None:
        self.masker = OutputMasker()
        self.check = ScreenCheck()
        self.model = TerminalModel(cols, rows)
        self.stream = b""

    def out(self, data: bytes, idle: bool = True) -> None:
        frame = self.masker.feed(data)[0]
        if idle:  # the output went quiet: held-back text is released, masked
            frame += self.masker.flush()[0]
        if frame:
            self.model.feed(frame)
            correction, _ = self.check.check(self.model, frame)
            self.stream += frame + correction

    def screen(self) -> str:
        return "".join(self.model.display())


def test_a_password_typed_across_the_right_edge() -> None:
    """bash wraps with `` \\r`` at the edge: the rest of the token is on the next row."""
    r = Relay(cols=30)
    r.out(b"\x1b[?2004h$ export ")
    col = 9
    for ch in f"PGPASSWORD={PASSWORD}".encode():
        r.out(bytes([ch]))  # typed key by key
        col += 1
        if col == 30:
            r.out(b" \r")
    assert "rse-battery" not in r.screen() and "staple" not in r.screen()
    assert "PGPASSWORD=*" in r.screen()


def test_editing_inside_a_token_with_the_arrow_keys() -> None:
    r = Relay()
    r.out(b"\x1b[?2004h$ ")
    for ch in f"export PGPASSWORD={PASSWORD}".encode():
        r.out(bytes([ch]))
    r.out(b"\x08" * 6)  # six times left
    r.out(b"X" + b"staple" + b"\x08" * 6)  # readline inserts and redraws the rest
    r.out(b"\x1b[C\x1b[CY" + b"aple" + b"\x08" * 4)
    shown = r.screen()
    assert "staple" not in shown and "aple" not in shown and "battery" not in shown


def test_backspace_overstrike_inside_a_key() -> None:
    r = Relay()
    r.out(f"{AWS[:8]}X\x08{AWS[8:]} ok\r\n".encode(), idle=False)
    assert AWS[4:] not in r.screen() and "AKIA****" in r.screen()


def test_a_key_drawn_bottom_up() -> None:
    lines = ["-----BEGIN RSA PRIVATE KEY-----"]
    lines += [("MIIEowIBAAKCAQEA" + str(i) * 48)[:64] for i in range(4)]
    lines += ["-----END RSA PRIVATE KEY-----"]
    r = Relay(cols=80, rows=10)
    r.out(
        "".join(f"\x1b[{i + 1};1H{line}" for i, line in reversed(list(enumerate(lines)))).encode()
    )
    shown = r.screen()
    assert "MIIEowIBAAKCAQEA" not in shown and "BEGIN RSA PRIVATE KEY" in shown


def test_a_token_drawn_cell_by_cell_out_of_order() -> None:
    token = "ghp_" + "Ab3" * 12
    r = Relay(cols=60)
    order = list(range(len(token)))
    order = order[1::2] + order[::2]
    r.out(b"".join(f"\x1b[3;{i + 1}H{token[i]}".encode() for i in order) + b"\x1b[8;1H")
    assert token[4:] not in r.screen() and "ghp_****" in r.screen()


@pytest.mark.parametrize(
    "setup",
    [
        b"",
        b"\x1b[31;1m",  # a pen to restore
        b"\x1b[4h",  # insert mode
        b"\x1b[2;6r\x1b[?6h",  # a scroll region in origin mode
        b"\x1b[3;40H",  # ... and the pending-wrap state after the last column:
    ],
    ids=["plain", "pen", "insert", "origin", "pending-wrap"],
)
def test_a_correction_changes_the_cells_and_nothing_else(setup: bytes) -> None:
    model = TerminalModel(40, 8)
    model.feed(b"\x1b[7;1Hghp_" + b"Ab3" * 12 + b"\x1b[33m")
    model.feed(setup + (b"Z" if setup.endswith(b"40H") else b""))
    before = state(model)
    model.feed(correct(model, [(6, 4, 40)]))
    after = state(model)
    assert model.display()[6] == "ghp_" + "*" * 36
    for key in before:
        if key not in ("buffer", "last_char"):
            assert after[key] == before[key], key


def test_a_log_flood_takes_the_fast_path() -> None:
    r = Relay(cols=80, rows=24)
    r.out(b"\x1b[?2004h$ cat app.log\r\n")
    for i in range(2000):
        r.out(f"2024-05-01 12:00:{i % 60:02d} \x1b[32mINFO\x1b[m request {i} ok\r\n".encode())
    assert r.check.checks <= 3


def test_a_flood_cut_between_cr_and_lf_takes_the_fast_path() -> None:
    """Frames end where socket reads end, often between the CR and the LF of a line."""
    r = Relay(cols=80, rows=24)
    r.out(b"\x1b[?2004h$ cat app.log\r\n")
    flood = b"".join(b"2024-05-01 12:00:%02d request %d ok\r\n" % (i % 60, i) for i in range(500))
    cuts = [i + 1 for i in range(len(flood)) if flood[i : i + 1] == b"\r"]  # after every CR
    for a, b in zip([0, *cuts], [*cuts, len(flood)], strict=True):
        r.out(flood[a:b], idle=False)
    assert r.check.checks <= 3
    assert r.screen().rstrip().endswith("request 499 ok")


def test_what_a_frame_draws_after_a_cr_that_ended_the_last_one_is_checked() -> None:
    """A CR at a frame's end passes; if no LF follows, what comes is checked on the screen."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    r = Relay(cols=60, rows=6)
    r.out(b"$ cat notes\r\n")
    checks = r.check.checks
    r.out(b"    " + token[4:].encode() + b"\r")  # no secret in the bytes, and a CR at the end
    assert r.check.checks == checks  # it only appended: not checked
    r.out(b"ghp_")  # drawn over the row's first four cells: the screen shows the token
    assert token not in r.screen() and token[4:] not in r.screen()
    assert "ghp_" + "*" * 36 in r.screen()
