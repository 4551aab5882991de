"""What a recording costs the event loop, in CPU ms per MB of terminal output.

:class:`relay.evidence.recording.Recording` records log lines (as a PTY
prints them, ``\\r\\n``) in 256 KiB chunks, as the relay's output path hands
them over in a flood, with ``--work`` ns of CPU per byte burnt between chunks
on the same thread, standing in for the rest of the relay. The recorder runs
with its chain writer's thread (``background``, the relay's setting) and
without it, runs alternating; the table gives, per MB with the simulated work
taken out, the CPU of the thread that calls the recorder (the event loop's
share) and of the whole process (the thread's too).

Run: ``python bench/recorder.py [--mb N] [--work NS] [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rig import write_log_file
from relay.core.session import Session
from relay.evidence.recording import Recording
from relay.trust.keys import SigningKey

CHUNK = 256 * 1024


def _run(
    path: Path, key: SigningKey, data: bytes, background: bool, work_ns: float
) -> tuple[float, float]:
    """(calling thread, process) CPU ms per MB, without the simulated work."""
    session = Session("bench", "target", "owner", 0.0)
    recording = Recording(path, key, session, 80, 24, time.time(), background=background)
    thread, process = time.thread_time(), time.process_time()
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        end = time.thread_time() + len(chunk) * work_ns * 1e-9
        while time.thread_time() < end:  # the rest of the relay
            pass
        now = time.time()
        recording.output(chunk, now)
        due = recording.due()
        if due is not None and now >= due:
            recording.tick(now)
    recording.close("bench finished", time.time())
    thread, process = time.thread_time() - thread, time.process_time() - process
    megabytes = len(data) / 1e6
    work = len(data) * work_ns * 1e-9
    return (thread - work) / megabytes * 1e3, (process - work) / megabytes * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=32, help="MiB of log lines per run")
    parser.add_argument("--work", type=float, default=20.0, help="simulated ns per byte")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_log_file(directory / "flood.log", args.mb * 2**20)
        data = (directory / "flood.log").read_bytes().replace(b"\n", b"\r\n")
        key = SigningKey.generate()
        results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for run in range(args.runs):
            for background in (False, True):
                path = directory / f"r{run}-{background}.cast"
                results[background].append(_run(path, key, data, background, args.work))
                path.unlink()
    print("| recorder                  | event-loop thread ms/MB | process ms/MB |")
    print("|---------------------------|-------------------------|---------------|")
    for background, values in results.items():
        name = "chain on its own thread" if background else "all on the event loop"
        loop = statistics.median(v[0] for v in values)
        whole = statistics.median(v[1] for v in values)
        print(f"| {name:25s} | {loop:23.2f} | {whole:13.2f} |")
    print(f"runs (loop, process): {results}")


if __name__ == "__main__":
    main()
