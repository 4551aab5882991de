"""The audit log: events read back, files verify and link, and edits are named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from relay.evidence.audit import AuditLog, audit_files, read_events
from relay.evidence.verdicts import AuditFileCheck, check_audit
from relay.evidence.verifier import Finding
from relay.trust.keys import SigningKey, VerifyKey

KEY = SigningKey.generate()
T0 = 1_795_000_000.0  # 2026-11-18 UTC


def fake_clock(start: float = T0, step: float = 0.25) -> Callable[[], float]:
    """A clock that advances ``step`` seconds per reading, so checkpoints happen on time."""
    now = [start - step]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def verify_dir(dir: Path, key: VerifyKey) -> list[AuditFileCheck]:
    return list(check_audit(dir, [key]).files)


def orphan(path: Path) -> None:
    """What a crash leaves: the file as it is, with no writer holding its lock."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)


def run(dir: Path, events: int = 20, start: float = T0) -> AuditLog:
    audit = AuditLog(dir, KEY, clock=fake_clock(start))
    for i in range(events):
        audit.record("session.join", user=f"user{i}", session="s1", reason=None, n=i)
    audit.record("control.grant", user="alice", session="s1", reason="INC-1: slow queries")
    audit.close("relay stopped")
    return audit


def test_records_read_back_in_order_with_sorted_keys(tmp_path: Path) -> None:
    audit = run(tmp_path)
    events = list(read_events(tmp_path))
    assert [e["n"] for e in events[:-1]] == list(range(20))
    assert events[-1] == {
        "event": "control.grant",
        "reason": "INC-1: slow queries",
        "session": "s1",
        "t": events[-1]["t"],
        "user": "alice",
    }
    assert audit.path.name == "audit-2026-11-18-1.log"
    line = audit.path.read_text().splitlines()[1]
    assert list(json.loads(line)) == sorted(json.loads(line))


def test_verify_dir_ok_and_sealed(tmp_path: Path) -> None:
    run(tmp_path)
    [check] = verify_dir(tmp_path, KEY.public)
    report = check.report
    assert report.ok and not check.issues, report.summary()
    assert report.sealed and report.seal_reason == "relay stopped" and report.lines == 21


def test_events_are_visible_at_once_and_tick_checkpoints_them(tmp_path: Path) -> None:
    times = iter([T0, T0 + 0.1, T0 + 0.2, T0 + 2.0])
    audit = AuditLog(tmp_path, KEY, clock=lambda: next(times))
    audit.record("auth.ok", user="alice")  # first line: checkpointed at once
    audit.record("auth.failed", user="mallory", reason="unknown key")
    assert [e["event"] for e in read_events(tmp_path)] == ["auth.ok", "auth.failed"]
    [before] = verify_dir(tmp_path, KEY.public)
    assert (before.report.lines, before.report.unverified_lines) == (1, 1)
    audit.tick()
    [after] = verify_dir(tmp_path, KEY.public)
    assert (after.report.lines, after.report.unverified_lines) == (2, 0)
    assert after.report.finding is Finding.UNSEALED
    assert after.open and not after.issues  # a running relay's file is not damaged


def test_edited_entry_is_named(tmp_path: Path) -> None:
    audit = run(tmp_path)
    lines = audit.path.read_bytes().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines, 1) if b'"user7"' in line)
    lines[target - 1] = lines[target - 1].replace(b'"user7"', b'"user8"')
    audit.path.write_bytes(b"".join(lines))
    [report] = [c.report for c in verify_dir(tmp_path, KEY.public)]
    assert report.finding is Finding.EDITED
    assert report.first_bad_line == target
    assert report.problem.startswith(f"Line {target} was edited")


def test_restart_links_files_and_a_deleted_file_is_named(tmp_path: Path) -> None:
    run(tmp_path, start=T0)
    run(tmp_path, start=T0 + 60)
    run(tmp_path, start=T0 + 120)
    names = [p.name for p in audit_files(tmp_path)]
    assert names == [f"audit-2026-11-18-{n}.log" for n in (1, 2, 3)]
    assert not any(c.issues for c in verify_dir(tmp_path, KEY.public))
    (tmp_path / names[1]).unlink()
    first, third = verify_dir(tmp_path, KEY.public)
    assert not first.issues
    [issue] = third.issues
    assert issue.finding is Finding.BROKEN_LINK
    assert names[1] in issue.message and "missing" in issue.message


def test_crash_is_recorded_by_the_next_run(tmp_path: Path) -> None:
    crashed = AuditLog(tmp_path, KEY, clock=fake_clock())
    crashed.record("session.open", user="alice", session="s1")
    crashed.tick()  # never closed: the relay died
    orphan(crashed.path)
    run(tmp_path, start=T0 + 60)
    first, second = verify_dir(tmp_path, KEY.public)
    assert [i.finding for i in first.issues] == [Finding.UNSEALED] and not first.open
    assert not second.issues, second.lines()
    notice = next(e for e in read_events(tmp_path) if e["event"] == "audit.previous_problem")
    assert notice["file"] == first.report.path.name and notice["finding"] == "unsealed"


def test_record_refuses_misuse(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, KEY, clock=fake_clock())
    with pytest.raises(ValueError, match="timestamp"):
        audit.record("auth.ok", t=1.0)
    audit.close("done")
    audit.close("twice is harmless")
    with pytest.raises(ValueError, match="closed"):
        audit.record("auth.ok", user="late")


def test_partial_last_line_is_skipped_when_reading(tmp_path: Path) -> None:
    audit = run(tmp_path)
    with audit.path.open("ab") as handle:
        handle.write(b'{"event": "half')
    assert len(list(read_events(tmp_path))) == 21


def _tamper(lines: list[bytes], how: str, target: int) -> list[bytes]:
    if how == "dropped":
        return lines[: target - 1] + lines[target:]
    lines[target - 1], lines[target] = lines[target], lines[target - 1]  # reordered
    return lines


@pytest.mark.parametrize(
    ("how", "finding"), [("dropped", Finding.DROPPED), ("reordered", Finding.REORDERED)]
)
def test_dropped_or_reordered_entry_is_named_by_the_cli(
    tmp_path: Path, how: str, finding: Finding
) -> None:
    import subprocess
    import sys

    audit = run(tmp_path / "audit")
    lines = audit.path.read_bytes().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines, 1) if b'"user7"' in line)
    audit.path.write_bytes(b"".join(_tamper(lines, how, target)))
    [report] = [c.report for c in verify_dir(tmp_path / "audit", KEY.public)]
    assert report.finding is finding and report.first_bad_line is not None
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "audit",
            "--data-dir",
            str(tmp_path),
            "--verify",
            "--key",
            KEY.public.text(),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    first = report.first_bad_line
    assert f"line {first}" in done.stdout.lower() or f"lines {first}-" in done.stdout.lower()
