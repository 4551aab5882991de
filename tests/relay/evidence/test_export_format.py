"""``warroom export`` writes what the most players read, at the size the shell really had.

The default is asciicast v2 (asciinema 2.x, ``asciinema cat``, asciinema-player);
the header carries the terminal size when output began (the lead's window, set
when they joined), and later resizes stay events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relay.trust.keys import SigningKey
from tests.recordings import new_recording
from tui.cli import main

KEY = SigningKey.generate()


def _session_in_a_big_window(path: Path) -> Path:
    """Opened at 80x24; the lead joins with 84x38 before anything is printed; later 120x40."""
    s = new_recording(path, KEY)
    rec = s.rec
    rec.event("j", {"user": "alice", "role": "lead", "id": "c1"}, s.now)
    rec.resize(84, 38, s.at(0.1).now)
    s.at(0.5).out(b"$ stty size\r\n38 84\r\n$ ")
    rec.resize(120, 40, s.at(2.0).now)
    s.at(2.5).out(b"stty size\r\n40 120\r\n$ ")
    rec.close("the shell exited with status 0", s.at(3.0).now)
    return path


def test_the_default_export_is_v2_at_the_real_size(tmp_path: Path) -> None:
    cast = _session_in_a_big_window(tmp_path / "s.cast")
    out = tmp_path / "out.cast"
    assert main(["export", str(cast), "-o", str(out)]) == 0
    header, *events = (json.loads(line) for line in out.read_text().splitlines())
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (84, 38)
    codes = [e[1] for e in events]
    assert codes.index("o") < codes.index("r")  # the first resize is in the header
    assert [e[2] for e in events if e[1] == "r"] == ["120x40"]


def test_asciinema_cat_reads_the_default_export(tmp_path: Path) -> None:
    pytest.importorskip("asciinema")
    cast = _session_in_a_big_window(tmp_path / "s.cast")
    out = tmp_path / "out.cast"
    assert main(["export", str(cast), "-o", str(out)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "asciinema", "cat", str(out)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"38 84" in done.stdout and b"40 120" in done.stdout


def test_help_says_which_format_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "asciicast-v2 (the default: asciinema 2.x, 'asciinema cat', asciinema-player)" in text
