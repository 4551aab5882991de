"""The four terminal streams of bench row 6, generated (seeded) at any size.

* plain logs: ``cat`` of a log, CRLF lines of words, some empty, some wrapping;
* coloured logs: ``journalctl``/``kubectl logs``-like SGR colours, bold, dim and
  resets around the same words;
* a shell-session mix: a coloured bash prompt with bracketed paste and a title,
  commands typed with corrections (BS, EL), and their output: ``ls --color``
  columns with tabs, ``git status``, ``grep --color`` matches with EL, files
  with accents, CJK and emoji, pip/curl progress bars redrawn with CR;
* full-screen repaints: ``top``/``htop``/``vim``-like programs on the alternate
  screen: cursor addressing per field, colour changes inside meters, reverse
  video, EL, and vim's scroll regions with RI/IL/DL and a status line.

Every stream cuts cleanly at the requested size on a line or frame boundary.
"""

from __future__ import annotations

import random
from collections.abc import Callable

COLS, ROWS = 80, 24
WORDS = ["GET", "POST", "/api/v1/items", "200", "404", "upstream", "timeout", "cache", "retry"]
FILES = ["main.py", "README.md", "café.txt", "données.csv", "報告書.pdf", "📦build", "src", "tests"]
CSI = "\x1b["


def _until(size: int, make: Callable[[], str]) -> bytes:
    out: list[bytes] = []
    total = 0
    while total < size:
        piece = make().encode()
        out.append(piece)
        total += len(piece)
    return b"".join(out)


def plain_logs(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)

    def line() -> str:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 18)))
        return words[:130] + "\r\n"

    return _until(size, line)


def coloured_logs(size: int, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    levels = (f"{CSI}32mINFO", f"{CSI}33mWARN", f"{CSI}1;31mERROR", f"{CSI}36mDEBUG")

    def line() -> str:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))
        stamp = f"{CSI}2m{rng.randint(0, 86399):05d}{CSI}0m"
        return f"{stamp} {rng.choice(levels)}{CSI}0m {words}\r\n"

    return _until(size, line)


def _prompt(cwd: str) -> str:
    return (
        f"{CSI}?2004h\x1b]0;ops@db-01: {cwd}\x07"
        f"{CSI}01;32mops@db-01{CSI}00m:{CSI}01;34m{cwd}{CSI}00m$ "
    )


def _typed(rng: random.Random, command: str) -> str:
    """What readline echoes while a command is typed, with a correction now and then."""
    if rng.random() < 0.3:
        wrong = command[:3] + "xx"
        return wrong + "\b" * 2 + f"{CSI}K" + command[3:]
    return command


def _ls(rng: random.Random) -> str:
    names = rng.sample(FILES, k=rng.randint(3, len(FILES)))
    coloured = [f"{CSI}0m{CSI}01;34m{n}{CSI}0m" if "." not in n else f"{CSI}0m{n}" for n in names]
    return "\t".join(coloured) + "\r\n"


def _git_status(rng: random.Random) -> str:
    lines = ["On branch main\r\n", "Changes not staged for commit:\r\n"]
    for name in rng.sample(FILES, k=3):
        lines.append(f"\t{CSI}31mmodified:   {name}{CSI}m\r\n")
    return "".join(lines)


def _grep(rng: random.Random) -> str:
    out = []
    for i in range(rng.randint(2, 8)):
        out.append(
            f"{CSI}35m{CSI}Ksrc/f{i}.py{CSI}m{CSI}K{CSI}36m{CSI}K:{CSI}m{CSI}K"
            f"{' '.join(rng.choice(WORDS) for _ in range(4))} "
            f"{CSI}01;31m{CSI}Kretry{CSI}m{CSI}K\r\n"
        )
    return "".join(out)


def _cat_unicode(rng: random.Random) -> str:
    samples = ["naïve café — résumé", "数据库连接超时", "✓ all checks passed 🎉", "Ωмега → ∞"]
    return "".join(rng.choice(samples) + "\r\n" for _ in range(rng.randint(2, 6)))


def _progress(rng: random.Random) -> str:
    out = []
    for pct in range(0, 101, rng.choice([5, 10, 20])):
        bar = "█" * (pct // 5) + " " * (20 - pct // 5)
        out.append(f"\r{pct:3d}%|{bar}| {pct}/100 [00:0{pct // 20}<00:05, 21.3it/s]")
    return "".join(out) + "\r\n"


def shell_mix(size: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    commands: list[tuple[str, Callable[[random.Random], str]]] = [
        ("ls --color=auto", _ls),
        ("git status", _git_status),
        ("grep -rn retry src", _grep),
        ("cat notes.txt", _cat_unicode),
        ("pip install -r requirements.txt", _progress),
    ]

    def session() -> str:
        command, output = rng.choice(commands)
        cwd = rng.choice(["~", "~/src", "/var/log"])
        return _prompt(cwd) + _typed(rng, command) + f"\r\n{CSI}?2004l\r" + output(rng)

    return _until(size, session)


def _top_frame(rng: random.Random) -> str:
    parts = [f"{CSI}H{CSI}1mtop - 12:00:{rng.randint(10, 59)} up 3 days,  load average: "]
    parts.append(f"{rng.random():.2f}, {rng.random():.2f}{CSI}m{CSI}K\r\n")
    for cpu in range(4):  # htop-like meters: a colour per segment
        used = rng.randint(0, 30)
        parts.append(
            f"{CSI}{cpu + 2};1H{CSI}1m{cpu:3d}{CSI}m[{CSI}32m{'|' * (used // 2)}"
            f"{CSI}31m{'|' * (used // 3)}{CSI}36m{'|' * (used // 6)}{CSI}m"
            f"{' ' * (30 - used // 2 - used // 3 - used // 6)}{CSI}1m{used * 3.3:5.1f}%{CSI}m]"
        )
    parts.append(f"{CSI}7;1H{CSI}7m  PID USER      PR  NI    VIRT    RES  %CPU COMMAND{CSI}K{CSI}m")
    selected = rng.randint(8, ROWS)
    for y in range(8, ROWS + 1):
        pen = f"{CSI}30;46m" if y == selected else ""
        parts.append(
            f"{CSI}{y};1H{pen}{rng.randint(1, 99999):5d} {rng.choice(['root', 'ops', 'www']):<8}"
            f"  20   0 {rng.randint(1000, 999999):7d} {rng.randint(100, 99999):6d} "
            f"{CSI}1m{rng.random() * 100:5.1f}{CSI}22m {rng.choice(WORDS)}{CSI}m{CSI}K"
        )
    return "".join(parts)


def _vim_frame(rng: random.Random) -> str:
    parts = [f"{CSI}1;{ROWS - 1}r"]
    for _ in range(rng.randint(1, 4)):  # scroll the text up or down a few lines
        if rng.random() < 0.5:
            bottom = f"{CSI}{ROWS - 1};1H"
            parts.append(f"{bottom}\n{bottom}{CSI}33m{rng.randint(1, 999):4d} {CSI}m")
        else:
            parts.append(f"{CSI}H\x1bM{CSI}33m{rng.randint(1, 999):4d} {CSI}m")
        parts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 10))) + f"{CSI}K")
    if rng.random() < 0.3:
        parts.append(f"{CSI}{rng.randint(1, 20)};1H{CSI}2L{CSI}3M")
    parts.append(
        f"{CSI}r{CSI}{ROWS};1H{CSI}7m notes.txt [+] {CSI}m{CSI}K"
        f"{CSI}{ROWS};60H{rng.randint(1, 999)},{rng.randint(1, 80)}  {rng.randint(0, 99)}%"
        f"{CSI}{rng.randint(1, ROWS - 1)};{rng.randint(1, 70)}H"
    )
    return "".join(parts)


def full_screen(size: int, seed: int = 4) -> bytes:
    rng = random.Random(seed)
    start = f"{CSI}?1049h{CSI}?25l{CSI}H{CSI}2J"

    def frame() -> str:
        return _top_frame(rng) if rng.random() < 0.6 else _vim_frame(rng)

    return start.encode() + _until(size, frame)


STREAMS: dict[str, Callable[[int], bytes]] = {
    "plain logs": plain_logs,
    "coloured logs": coloured_logs,
    "shell-session mix": shell_mix,
    "full-screen repaints": full_screen,
}

#: ``model / xterm.js`` feed-rate ratio each stream must reach (the issue's targets).
TARGETS = {
    "plain logs": 1.0,
    "coloured logs": 1.0,
    "shell-session mix": 0.5,
    "full-screen repaints": 0.5,
}


def chunks(data: bytes, size: int = 4096) -> list[bytes]:
    """``data`` in slices of at most ``size`` bytes ending on UTF-8 character boundaries.

    (xterm.js 6 drops a character whose bytes are split across writes; both
    emulators get the same slices.)
    """
    out = []
    i = 0
    while i < len(data):
        end = min(i + size, len(data))
        while end < len(data) and end > i + 1 and data[end] & 0xC0 == 0x80:
            end -= 1
        out.append(data[i:end])
        i = end
    return out
