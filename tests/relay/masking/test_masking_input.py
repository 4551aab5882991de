"""Typed input kept out of the record: decided by whether the target echoes it."""

from __future__ import annotations

import pytest

from relay.masking import InputGuard
from relay.masking.input import ECHO_WAIT, Decision

PASSWORD = "hunter2-correct"


class Session:
    """A guard driven like the relay drives it, with a clock of our own."""

    def __init__(self) -> None:
        self.guard = InputGuard()
        self.now = 1000.0
        self.recorded: list[Decision] = []

    def out(self, data: bytes) -> None:
        self.guard.observe_output(data, self.now)
        self.recorded += self.guard.decide(self.now)

    def type(self, data: bytes, echo: bytes | None = None) -> None:
        self.guard.typed(data, "alice", self.now)
        self.recorded += self.guard.decide(self.now)
        if echo is not None:
            self.out(echo)

    def wait(self, seconds: float = ECHO_WAIT) -> None:
        self.now += seconds
        self.recorded += self.guard.decide(self.now)

    def text(self) -> bytes:
        return b"".join(d.data or b"<secret>" for d in self.recorded)


def test_echoed_typing_is_recorded_as_typed() -> None:
    s = Session()
    s.out(b"alice@host:~$ ")
    for ch in b"ls -l":
        s.type(bytes([ch]), echo=bytes([ch]))
    s.type(b"\r", echo=b"\r\ntotal 0\r\nalice@host:~$ ")
    assert s.text() == b"ls -l\r"


def test_typing_the_target_does_not_echo_is_one_marker() -> None:
    """``read -s`` at a prompt nobody knows: no echo, so secret; one marker, no length."""
    s = Session()
    s.out(b"Frobnicator seed phrase> ")
    for ch in PASSWORD.encode():
        s.type(bytes([ch]))
    s.type(b"\r", echo=b"\r\n")
    s.wait()
    s.type(b"ls\r", echo=b"ls\r\nfile\r\n$ ")
    assert s.text() == b"<secret>\rls\r"
    assert [d.data for d in s.recorded].count(None) == 1


@pytest.mark.parametrize(
    "background",
    [
        b"tick hunter2-correct 12:00:01\r\n",  # a job printing lines, even the password's letters
        b"\x1b7\x1b[24;70H12:01 h\x1b8",  # a tmux-like status clock drawn elsewhere
        b"\x1b[s\x1b[1;1Hhunter\x1b[u",  # cursor moves away and back
        b"\r\n",  # a prompt followed by a newline
    ],
    ids=["job", "clock", "moves", "newline"],
)
def test_output_elsewhere_is_not_taken_for_an_echo(background: bytes) -> None:
    s = Session()
    s.out(b"Enter vault token: ")
    for ch in PASSWORD.encode():
        s.type(bytes([ch]))
        s.out(background)
    s.type(b"\r", echo=b"\r\n")
    s.wait()
    assert PASSWORD[:3].encode() not in s.text() and s.text().startswith(b"<secret>")


@pytest.mark.parametrize(
    "prompt",
    [
        b"Password: ",
        b"[sudo] password for alice: ",
        b"Enter passphrase for key '/home/alice/.ssh/id_ed25519': ",
        b"Unseal Key (will be hidden): ",
        b"Enter API key: ",
        b"Private key:\r\n",
        b"Enter recovery code: ",
        b"AWS Secret Access Key [None]: ",
        b"Passwort: ",
        "Contraseña: ".encode(),
        "Пароль: ".encode(),
        "密码\uff1a".encode(),  # a full-width colon
        b"\x1b[1mPassword:\x1b[0m ",
    ],
)
def test_a_recognised_prompt_keeps_echoed_input_secret_too(prompt: bytes) -> None:
    """``read -p 'AWS Secret Access Key [None]: '`` echoes: the prompt says it is secret."""
    s = Session()
    s.out(b"$ cmd\r\n" + prompt)
    assert s.guard.armed and s.guard.masking_echo
    for ch in PASSWORD.encode():
        s.type(bytes([ch]), echo=bytes([ch]))  # echoed, and still secret
    s.type(b"\r", echo=b"\r\n")
    assert not s.guard.armed and not s.guard.masking_echo
    s.type(b"ls\r", echo=b"ls\r\n$ ")
    assert s.text() == b"<secret>ls\r"


def test_the_echo_mask_lasts_until_the_enter_echo_arrives() -> None:
    """A pasted secret and Enter: the echo comes after the guard disarmed."""
    s = Session()
    s.out(b"Enter API key: ")
    s.type(PASSWORD.encode() + b"\r")
    assert not s.guard.armed and s.guard.masking_echo  # the echo is still to come
    s.out(PASSWORD.encode() + b"\r\n")
    assert not s.guard.masking_echo
    assert s.text() == b"<secret>"


@pytest.mark.parametrize(
    "output",
    [
        b"alice@host:~/secrets$ ",
        b"~/tokens> ",
        b"Password changed successfully.\r\nalice@host:~$ ",
        b"Enter the name of the project: ",
        b"Spinning up 3 workers:\r\n$ ",
    ],
)
def test_ordinary_prompts_do_not_arm_the_guard(output: bytes) -> None:
    s = Session()
    s.out(output)
    assert not s.guard.armed
    s.type(b"ls", echo=b"ls")
    assert s.text() == b"ls"


def test_ctrl_c_ends_a_secret_and_is_recorded() -> None:
    s = Session()
    s.out(b"Password: ")
    s.type(b"abc")
    s.type(b"\x03", echo=b"^C\r\n$ ")
    s.wait()
    assert s.text() == b"<secret>"
    s.type(b"ls", echo=b"ls")
    assert s.text() == b"<secret>ls"


def test_typing_fast_ahead_of_the_echo_is_recorded_in_order() -> None:
    s = Session()
    s.out(b"$ ")
    s.type(b"ec")
    s.type(b"ho hi")
    s.type(b"\r")
    assert s.text() == b""  # waiting for the echo
    s.out(b"echo hi\r\nhi\r\n$ ")
    assert s.text() == b"echo hi\r"


def test_pasted_text_before_a_silent_line_break_is_secret() -> None:
    """``read -s`` then a pasted ``secret\\r``: the program prints the newline itself."""
    s = Session()
    s.out(b"token? ")
    s.type(PASSWORD.encode() + b"\r")
    s.out(b"\r\nok\r\n$ ")
    assert s.text() == b"<secret>\r" or s.text() == b"<secret>"
    assert PASSWORD[:4].encode() not in s.text()


def test_the_end_of_a_session_counts_what_still_waits_as_secret() -> None:
    s = Session()
    s.out(b"pin: ")
    s.type(b"1234")
    assert [d.data for d in s.guard.flush(s.now)] == [None]


@pytest.mark.parametrize(
    ("chunk", "echo_at"),
    [
        (b"Enter API key: " + PASSWORD.encode(), 15),
        (b"$ cmd\r\nAWS Secret Access Key [None]: " + PASSWORD.encode() + b"\r\n$ ", 37),
        (b"\x1b[1mPassword:\x1b[0m " + PASSWORD.encode(), 18),  # sequences before the echo
        (b"Enter API key: " + PASSWORD[:5].encode(), 15),  # the rest of the echo comes later
    ],
    ids=["at-end", "lines-around", "coloured", "cut"],
)
def test_a_prompt_and_the_echo_in_one_chunk_keep_the_input_secret(
    chunk: bytes, echo_at: int
) -> None:
    """Keys on their way while the prompt was printed (or a program that draws the
    prompt and the line it read in one write): the prompt is not at the chunk's end."""
    s = Session()
    s.out(b"$ ")
    s.type(PASSWORD.encode() + b"\r")  # pasted before the prompt reached the relay
    assert s.guard.observe_output(chunk, s.now) == echo_at
    assert chunk[echo_at:].startswith(PASSWORD[:5].encode())
    s.recorded += s.guard.decide(s.now)
    s.wait()
    s.type(b"ls\r", echo=b"ls\r\n$ ")
    assert s.text() == b"<secret>ls\r"


def test_a_prompt_and_the_start_of_the_echo_in_one_chunk_arm_the_guard() -> None:
    """The secret is still being typed: what comes until Enter is secret, its echo masked."""
    s = Session()
    s.out(b"$ ")
    s.type(PASSWORD[:4].encode())
    assert s.guard.observe_output(b"Enter API key: " + PASSWORD[:4].encode(), s.now) == 15
    assert s.guard.armed and s.guard.masking_echo
    for ch in PASSWORD[4:].encode():
        s.type(bytes([ch]), echo=bytes([ch]))
    s.type(b"\r", echo=b"\r\n")
    s.type(b"ls\r", echo=b"ls\r\n$ ")
    assert s.text() == b"<secret>ls\r"


@pytest.mark.parametrize(
    "chunk",
    [
        b"$ " + PASSWORD.encode(),  # an ordinary echo after a shell prompt
        b"Password: accepted\r\n$ " + PASSWORD.encode(),  # the prompt is on another line
        b"token: abc " + PASSWORD.encode(),  # not right after the prompt
    ],
    ids=["shell-prompt", "other-line", "not-after"],
)
def test_an_echo_that_does_not_follow_a_secret_prompt_is_recorded(chunk: bytes) -> None:
    s = Session()
    s.out(b"$ ")
    s.type(PASSWORD.encode())
    assert s.guard.observe_output(chunk, s.now) is None
    s.type(b"\r", echo=b"\r\n$ ")
    assert s.text() == PASSWORD.encode() + b"\r"
