"""Benchmark: replaying a one-hour, 100 MB recording.

Writes a synthetic recording with the relay's own recorder (hash chain,
checkpoints and seal included): coloured scrolling logs, a full-screen
program on the alternate screen now and then, keystrokes, chat and hand-offs,
spread over an hour. Then measures what a reviewer waits for:

* building the keyframe index (first replay), in MB/s;
* opening the recording with a fresh index (every later replay);
* seeking to random moments (the issue's budget: at most 100 ms);
* verifying the chain and signatures.

Run: ``python -m bench.replay [--size-mb 100] [--seconds 3600] [--seeks 50]``.
It prints a table; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from relay.core.session import Session
from relay.evidence.recording import Recording as Recorder
from relay.evidence.replay import Player, Recording, index_path
from relay.evidence.verifier import verify_file
from relay.trust.keys import SigningKey

START = 1_790_000_000.0
WORDS = [
    "GET",
    "POST",
    "200",
    "404",
    "500",
    "upstream",
    "timeout",
    "latency_ms",
    "db.query",
    "cache",
    "miss",
    "retry",
]


def log_chunk(rng: random.Random, lines: int) -> bytes:
    """A burst of coloured log lines, as ``journalctl -f`` or ``kubectl logs`` print."""
    out = []
    for _ in range(lines):
        colour = rng.choice((31, 32, 33, 36))
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        out.append(f"\x1b[{colour}m{rng.randint(0, 99999):05d}\x1b[0m {words}\r\n")
    return "".join(out).encode()


def full_screen(rng: random.Random, cols: int, rows: int) -> bytes:
    """A ``top``-like redraw on the alternate screen."""
    body = [f"\x1b[{y + 1};1H\x1b[7m{y:3d}\x1b[0m {rng.random():.6f} " for y in range(rows)]
    return ("\x1b[?1049h\x1b[H\x1b[2J" + "".join(body)).encode()


def generate(path: Path, size: int, seconds: float, seed: int = 7) -> int:
    """Write the synthetic recording; return its size in bytes."""
    rng = random.Random(seed)
    key = SigningKey.generate()
    core = Session("bench", "prod-db", "alice", START, reason="bench: replay")
    rec = Recorder(path, key, core, 120, 40, START)
    rec.event("j", {"user": "alice", "role": "lead", "id": "c1"}, START)
    rec.event("h", {"driver": "alice", "how": "owner"}, START)
    sample = [len(log_chunk(random.Random(i), rng.randint(10, 40))) for i in range(50)]
    # JSON escaping of ESC (\u001b) makes a line about 1.25 times its output.
    steps = max(1, int(size / (statistics.mean(sample) * 1.25 + 60)))
    step = seconds / steps
    for i in range(steps):
        now = START + i * step
        if i % 500 == 250:
            rec.output(full_screen(rng, 120, 40), now)
            rec.output(b"\x1b[?1049l", now + step / 2)
        elif i % 97 == 0:
            rec.input(b"q", "alice", now)
            rec.event("c", {"user": "bob", "text": f"step {i} looks fine"}, now)
        else:
            rec.output(log_chunk(rng, rng.randint(10, 40)), now)
        rec.tick(now)
    rec.event("x", {"reason": "bench done", "exit_status": 0}, START + seconds)
    rec.close("bench done", START + seconds)
    return path.stat().st_size


def timed(action: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--seeks", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.cast"
        gen_s, size = timed(lambda: generate(path, int(args.size_mb * 1e6), args.seconds))
        assert isinstance(size, int)
        build_s, recording = timed(lambda: Recording.open(path))
        assert isinstance(recording, Recording) and recording.rebuilt_index
        open_s, reopened = timed(lambda: Recording.open(path))
        assert isinstance(reopened, Recording) and not reopened.rebuilt_index
        verify_s, report = timed(lambda: verify_file(path, None))
        rng = random.Random(1)
        player = Player(reopened)
        seeks = []
        for _ in range(args.seeks):
            at = rng.uniform(0, reopened.duration)
            seeks.append(timed(lambda at=at: player.seek(at))[0] * 1000)
        rows = [
            ("recording", f"{size / 1e6:.1f} MB, {reopened.duration / 60:.0f} min"),
            ("events / keyframes", f"{reopened.index.events} / {len(reopened.index.keyframes)}"),
            ("index size", f"{index_path(path).stat().st_size / 1e6:.2f} MB"),
            ("generate (recorder)", f"{gen_s:.1f} s ({size / 1e6 / gen_s:.1f} MB/s)"),
            ("build index", f"{build_s:.1f} s ({size / 1e6 / build_s:.1f} MB/s)"),
            ("open with index", f"{open_s * 1000:.0f} ms"),
            ("verify chain", f"{verify_s:.2f} s ({'ok' if report.ok else 'FAILED'})"),  # type: ignore[attr-defined]
            ("seek median", f"{statistics.median(seeks):.1f} ms"),
            ("seek p95", f"{sorted(seeks)[int(len(seeks) * 0.95) - 1]:.1f} ms"),
            ("seek max", f"{max(seeks):.1f} ms (budget 100 ms)"),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
