"""The chain file format: round trips, and every kind of tampering named distinctly."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from relay.evidence.chain import CRC_MODULUS, ChainWriter, Checkpoint
from relay.evidence.verifier import Finding, VerifyReport, read_header, verify_file
from relay.trust.keys import SigningKey

HEADER = json.dumps({"version": 3, "term": {"cols": 80, "rows": 24}})
KEY = SigningKey.generate()
OTHER_KEY = SigningKey.generate()


def write_chain(path: Path, count: int = 50, every: int = 10) -> ChainWriter:
    """A sealed file of ``count`` distinct data lines, checkpointed every ``every`` lines."""
    writer = ChainWriter(path, KEY, HEADER, checkpoint_every_lines=every)
    for i in range(count):
        writer.append(json.dumps([i / 10, "o", f"line {i}\r\n"]), now=100.0)
    writer.seal("session ended", now=101.0)
    return writer


def physical(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def data_lines(path: Path) -> list[int]:
    """1-based physical numbers of the data lines."""
    return [i for i, line in enumerate(physical(path), 1) if i > 1 and not line.startswith(b"#")]


def control_lines(path: Path) -> list[int]:
    return [i for i, line in enumerate(physical(path), 1) if line.startswith(b"#warroom-")]


def only(report: VerifyReport, finding: Finding) -> None:
    assert not report.ok
    assert [issue.finding for issue in report.issues] == [finding], report.summary()


def forge_checkpoint(lines: list[bytes], key: SigningKey, t: float) -> bytes:
    """Recompute the chain from the documented formulas and sign it: what a forger would do."""
    h = hashlib.sha256(b"warroom-chain-v1" + lines[0]).digest()
    n = s0 = s1 = 0
    for line in lines[1:]:
        if line.startswith(b"#warroom-"):
            continue
        h = hashlib.sha256(h + line).digest()
        n += 1
        s0 += zlib.crc32(line)
        s1 += n * zlib.crc32(line)
    draft = Checkpoint(n, h.hex(), s0 % CRC_MODULUS, s1 % CRC_MODULUS, t, key.public.text(), "")
    signature = base64.b64encode(key.sign(draft.message())).decode()
    return replace(draft, sig=signature).line()


# ---------------------------------------------------------------- writing


def test_round_trip_verifies_and_reports_the_seal(tmp_path: Path) -> None:
    path = tmp_path / "s.cast"
    writer = write_chain(path, count=50, every=10)
    report = verify_file(path, KEY.public)
    assert report.ok and report.sealed and report.problem == ""
    assert report.lines == 50
    assert report.checkpoints == len(control_lines(path))
    assert report.signer_ok is True
    assert report.seal_reason == "session ended"
    assert report.verified_prefix_lines == len(physical(path))
    assert (report.final_n, report.final_hash) == (50, writer.hash)
    assert read_header(path) == HEADER


def test_documented_formulas_reproduce_the_seal(tmp_path: Path) -> None:
    path = tmp_path / "s.cast"
    write_chain(path)
    lines = physical(path)
    seal = Checkpoint.parse(lines[-1].rstrip(b"\n"))
    assert seal.is_seal and seal.reason == "session ended"
    forged = Checkpoint.parse(forge_checkpoint(lines[:-1], KEY, seal.t).rstrip(b"\n"))
    assert (forged.n, forged.hash, forged.crc_sum, forged.crc_wsum) == (
        seal.n,
        seal.hash,
        seal.crc_sum,
        seal.crc_wsum,
    )


def test_checkpoints_follow_time_and_reach_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "t.cast"
    writer = ChainWriter(path, KEY, HEADER, checkpoint_every_lines=10**6)
    writer.append("first", now=0.0)  # the first line is checkpointed at once
    writer.append("second", now=0.5)
    assert not writer.maybe_checkpoint(0.9)
    assert b"second" not in path.read_bytes()
    assert writer.maybe_checkpoint(1.0)
    assert not writer.maybe_checkpoint(5.0)  # nothing new since
    assert b"second" in path.read_bytes()
    assert len(control_lines(path)) == 2
    unsealed = verify_file(path, KEY.public)
    assert unsealed.lines == 2 and unsealed.finding is Finding.UNSEALED


def test_flush_hands_lines_to_the_os_without_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "f.cast"
    writer = ChainWriter(path, KEY, HEADER, checkpoint_every_lines=10**6)
    writer.append("a", now=0.0)
    writer.append("b", now=0.1)
    writer.flush()
    assert path.read_bytes().endswith(b"b\n")


def test_refuses_a_file_with_content(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    path.write_text("already here\n")
    with pytest.raises(FileExistsError):
        ChainWriter(path, KEY, HEADER)
    empty = tmp_path / "empty.cast"
    empty.touch()
    ChainWriter(empty, KEY, HEADER).seal("done", 0.0)
    assert verify_file(empty, KEY.public).ok


def test_refuses_lines_that_would_break_framing(tmp_path: Path) -> None:
    writer = ChainWriter(tmp_path / "v.cast", KEY, HEADER)
    with pytest.raises(ValueError, match="newline"):
        writer.append("two\nlines", now=0.0)
    with pytest.raises(ValueError, match="#warroom-"):
        writer.append("#warroom-seal {}", now=0.0)
    writer.append("ends with its newline\n", now=0.0)
    writer.seal("done", now=0.0)
    with pytest.raises(ValueError, match="sealed"):
        writer.append("late", now=1.0)
    assert verify_file(tmp_path / "v.cast", KEY.public).lines == 1


# ---------------------------------------------------------------- tampering


def test_edited_byte_names_the_line_and_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "e.cast"
    write_chain(path)
    lines = physical(path)
    target = data_lines(path)[24]
    lines[target - 1] = lines[target - 1].replace(b"line", b"lime")
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.EDITED)
    issue = report.issues[0]
    assert report.first_bad_line == target
    assert issue.checkpoint_line == min(c for c in control_lines(path) if c > target)
    assert issue.window is not None and issue.window[0] <= target <= issue.window[1]
    assert report.problem.startswith(f"Line {target} was edited")
    assert report.verified_prefix_lines < target
    assert report.sealed and report.lines == 40  # the other windows still verify


def test_dropped_line(tmp_path: Path) -> None:
    path = tmp_path / "d.cast"
    write_chain(path)
    lines = physical(path)
    target = data_lines(path)[15]
    del lines[target - 1]
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.DROPPED)
    assert report.first_bad_line == target
    assert f"dropped just before line {target}" in report.problem


def test_reordered_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.cast"
    write_chain(path)
    lines = physical(path)
    a, b = data_lines(path)[12], data_lines(path)[14]
    lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.REORDERED)
    window = report.issues[0].window
    assert window is not None and window[0] <= a < b <= window[1]


def test_duplicated_line(tmp_path: Path) -> None:
    path = tmp_path / "u.cast"
    write_chain(path)
    lines = physical(path)
    target = data_lines(path)[30]
    lines.insert(target, lines[target - 1])
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.DUPLICATED)
    assert report.first_bad_line == target + 1
    assert report.problem.startswith(f"Line {target + 1} duplicates line {target}")


def test_inserted_line(tmp_path: Path) -> None:
    path = tmp_path / "i.cast"
    write_chain(path)
    lines = physical(path)
    target = data_lines(path)[30]
    lines.insert(target, b'[0.1, "i", "rm -rf /\\r"]\n')
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.INSERTED)
    assert report.first_bad_line == target + 1


def test_edited_header(tmp_path: Path) -> None:
    path = tmp_path / "h.cast"
    write_chain(path)
    lines = physical(path)
    lines[0] = lines[0].replace(b"80", b"81")
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.EDITED)
    assert report.first_bad_line == 1


def test_checkpoint_re_signed_by_another_key(tmp_path: Path) -> None:
    path = tmp_path / "k.cast"
    write_chain(path)
    lines = physical(path)
    target = data_lines(path)[25]
    lines[target - 1] = lines[target - 1].replace(b"line", b"lime")
    checkpoint = min(c for c in control_lines(path) if c > target)
    lines[checkpoint - 1] = forge_checkpoint(lines[: checkpoint - 1], OTHER_KEY, 100.0)
    rewrite(path, lines)
    for key, whose in ((KEY.public, "the given key"), (None, "the earlier checkpoints")):
        report = verify_file(path, key)
        assert report.finding is Finding.WRONG_KEY, report.summary()
        assert report.first_bad_line == checkpoint
        assert OTHER_KEY.public.text() in report.problem and whose in report.problem
        assert report.signer_ok is False


def test_edited_signature(tmp_path: Path) -> None:
    path = tmp_path / "s.cast"
    write_chain(path)
    lines = physical(path)
    checkpoint = control_lines(path)[2]
    body = json.loads(lines[checkpoint - 1].split(b" ", 1)[1])
    sig = bytearray(base64.b64decode(body["sig"]))
    sig[0] ^= 1
    body["sig"] = base64.b64encode(bytes(sig)).decode()
    lines[checkpoint - 1] = b"#warroom-checkpoint " + json.dumps(body).encode() + b"\n"
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.BAD_SIGNATURE)
    assert report.first_bad_line == checkpoint
    assert report.lines == 50  # the data is intact: the next checkpoint covers its window
    assert report.signer_ok is False


def test_edited_checkpoint_count_breaks_its_signature(tmp_path: Path) -> None:
    path = tmp_path / "n.cast"
    write_chain(path)
    lines = physical(path)
    checkpoint = control_lines(path)[1]
    lines[checkpoint - 1] = lines[checkpoint - 1].replace(b'"n": ', b'"n": 1')
    rewrite(path, lines)
    only(verify_file(path, KEY.public), Finding.BAD_SIGNATURE)


def test_edited_key_field_breaks_the_signature(tmp_path: Path) -> None:
    path = tmp_path / "f.cast"
    write_chain(path)
    lines = physical(path)
    checkpoint = control_lines(path)[1]
    old, new = KEY.public.text().encode(), OTHER_KEY.public.text().encode()
    lines[checkpoint - 1] = lines[checkpoint - 1].replace(old, new)
    rewrite(path, lines)
    only(verify_file(path, KEY.public), Finding.BAD_SIGNATURE)


def test_respaced_control_line_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "w.cast"
    write_chain(path)
    lines = physical(path)
    checkpoint = control_lines(path)[1]
    lines[checkpoint - 1] = lines[checkpoint - 1].replace(b'"n": ', b'"n":  ')
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.MALFORMED)
    assert "canonical" in report.problem


def test_checkpoint_relabelled_as_seal_is_not_a_seal(tmp_path: Path) -> None:
    path = tmp_path / "l.cast"
    write_chain(path)
    lines = physical(path)
    checkpoint = control_lines(path)[2]
    original = Checkpoint.parse(lines[checkpoint - 1].rstrip(b"\n"))
    relabelled = replace(original, reason="session ended").line()
    lines = [*lines[: checkpoint - 1], relabelled]
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    assert not report.sealed
    assert [i.finding for i in report.issues] == [Finding.BAD_SIGNATURE, Finding.UNSEALED]


def test_copied_checkpoint_line(tmp_path: Path) -> None:
    path = tmp_path / "c.cast"
    write_chain(path)
    lines = physical(path)
    first, later = control_lines(path)[1], control_lines(path)[3]
    lines.insert(later, lines[first - 1])
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.INSERTED)
    assert report.first_bad_line == later + 1


def test_truncated_file_is_unsealed_not_tampered(tmp_path: Path) -> None:
    path = tmp_path / "t.cast"
    write_chain(path)
    checkpoint = control_lines(path)[3]
    rewrite(path, physical(path)[: checkpoint + 3])
    report = verify_file(path, KEY.public)
    only(report, Finding.UNSEALED)
    assert not report.sealed
    assert report.verified_prefix_lines == checkpoint
    assert report.unverified_lines == 3
    assert report.first_bad_line == checkpoint + 1
    assert report.lines == Checkpoint.parse(physical(path)[checkpoint - 1][:-1]).n
    assert "without a valid seal" in report.problem and "unverified" in report.problem


def test_partial_final_line(tmp_path: Path) -> None:
    path = tmp_path / "p.cast"
    write_chain(path)
    checkpoint = control_lines(path)[2]
    content = b"".join(physical(path)[: checkpoint + 2])
    path.write_bytes(content + b'[0.1, "o", "half a li')
    report = verify_file(path, KEY.public)
    only(report, Finding.UNSEALED)
    assert report.unverified_lines == 3
    assert "incomplete" in report.problem


def test_garbage_after_seal(tmp_path: Path) -> None:
    path = tmp_path / "g.cast"
    write_chain(path)
    seal_line = len(physical(path))
    with path.open("ab") as handle:
        handle.write(b'[9.9, "o", "appended later"]\n')
    report = verify_file(path, KEY.public)
    only(report, Finding.AFTER_SEAL)
    assert report.sealed and report.lines == 50
    assert report.first_bad_line == seal_line + 1


def test_partial_garbage_after_seal(tmp_path: Path) -> None:
    path = tmp_path / "g.cast"
    write_chain(path)
    with path.open("ab") as handle:
        handle.write(b"no newline")
    only(verify_file(path, KEY.public), Finding.AFTER_SEAL)


def test_wrong_public_key(tmp_path: Path) -> None:
    path = tmp_path / "w.cast"
    write_chain(path)
    report = verify_file(path, OTHER_KEY.public)
    assert report.finding is Finding.WRONG_KEY
    assert report.first_bad_line == control_lines(path)[0]
    assert report.signer_ok is False and report.lines == 0


def test_without_a_key_the_embedded_one_is_used_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "n.cast"
    write_chain(path)
    report = verify_file(path, None)
    assert report.ok and report.signer_ok is None
    assert report.signer == KEY.public.text()
    assert "not independently checked" in report.summary()


@pytest.mark.parametrize("content", [b"", b'{"version": 3'])
def test_empty_or_headless_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.cast"
    path.write_bytes(content)
    report = verify_file(path, KEY.public)
    only(report, Finding.MALFORMED)
    assert report.final_hash is None


def test_unparseable_control_line(tmp_path: Path) -> None:
    path = tmp_path / "m.cast"
    write_chain(path)
    lines = physical(path)
    checkpoint = control_lines(path)[1]
    lines[checkpoint - 1] = b"#warroom-checkpoint {not json\n"
    rewrite(path, lines)
    report = verify_file(path, KEY.public)
    only(report, Finding.MALFORMED)
    assert report.first_bad_line == checkpoint
