"""Evidence through the CLI: `warroom audit --verify`, `warroom verify`, `warroom export`.

Each test damages real files the way an attacker (or a crash) would and checks
the exit code (0 intact, 1 tampered, 2 cannot check, 3 interrupted) and the
words that name the problem. The witness goes through a real syslog datagram
socket that the test owns (:mod:`tests.syslog_sink`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from relay.config import ConfigError, RelayConfig, parse_config
from relay.evidence.audit import AuditLog, audit_files, read_events
from relay.evidence.chain import ChainWriter, Checkpoint
from relay.evidence.verifier import verify_file
from relay.evidence.witness import SyslogWitness, read_witness
from relay.trust.keys import PUBLIC_KEY_FILE, SigningKey
from tests.recordings import sample_session
from tests.syslog_sink import SyslogSink
from tui.cli import main

KEY = SigningKey.generate()
OTHER = SigningKey.generate()
T0 = 1_795_000_000.0
WARROOM = [sys.executable, "-m", "tui.cli"]

Clock = Callable[[], float]


def clock_from(start: float, step: float = 0.25) -> Clock:
    now = [start - step]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


@pytest.fixture
def sink() -> Iterator[SyslogSink]:
    directory = Path(tempfile.mkdtemp(prefix="wr-log-"))  # unix socket paths are short
    try:
        with SyslogSink(directory / "log") as sink:
            yield sink
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def relay_run(
    data: Path,
    start: float,
    key: SigningKey = KEY,
    witness: SyslogWitness | None = None,
    close: bool = True,
) -> AuditLog:
    """One relay run's audit file: a few events, then a clean stop (or still running)."""
    audit = AuditLog(data / "audit", key, clock=clock_from(start), witness=witness)
    for i in range(6):
        audit.record("session.join", user=f"user{i}", session="s1")
    audit.tick()
    if close:
        audit.close("relay stopped")
    return audit


def audit_cli(data: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["audit", "--data-dir", str(data), "--verify", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def cut_seal(path: Path) -> None:
    """Cut a file back to just before its seal, as an editor (or ``truncate``) would."""
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"#warroom-seal ")])


# ---------------------------------------------------------------- audit: item 9


def test_a_clean_log_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    relay_run(tmp_path, T0)
    relay_run(tmp_path, T0 + 60)
    code, text = audit_cli(tmp_path, capsys, "--key", KEY.public.text())
    assert code == 0, text
    assert text.count(": OK: ") == 2 and f"signed by {KEY.public.text()}" in text


def test_a_running_relays_file_is_open_not_damaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relay_run(tmp_path, T0)
    running = relay_run(tmp_path, T0 + 60, close=False)
    code, text = audit_cli(tmp_path, capsys, "--key", KEY.public.text())
    assert code == 0, text
    assert f"{running.path.name}: OPEN (a running relay is writing it)" in text
    running.close("done")


def test_newest_file_cut_after_a_clean_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink: SyslogSink
) -> None:
    witness = SyslogWitness(str(sink.path))
    relay_run(tmp_path, T0, witness=witness)
    newest = relay_run(tmp_path, T0 + 60, witness=witness)
    sink.wait_for(witness.sent)
    cut_seal(newest.path)
    code, text = audit_cli(tmp_path, capsys)
    assert code == 3, text  # on its own, a cut after the last checkpoint looks like a crash
    assert f"{newest.path.name}: INTERRUPTED" in text and "--witness" in text
    exported = sink.export(tmp_path / "syslog")
    code, text = audit_cli(tmp_path, capsys, "--witness", str(exported))
    assert code == 1, text
    assert f"{newest.path.name} lost its seal: the witness saw it sealed" in text


def test_deleted_newest_file_is_found_only_with_the_witness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink: SyslogSink
) -> None:
    witness = SyslogWitness(str(sink.path))
    relay_run(tmp_path, T0, witness=witness)
    newest = relay_run(tmp_path, T0 + 60, witness=witness)
    sink.wait_for(witness.sent)
    newest.path.unlink()
    code, text = audit_cli(tmp_path, capsys)
    assert code == 0, text
    assert "Without --witness, a deleted newest file" in text
    exported = sink.export(tmp_path / "syslog")
    code, text = audit_cli(tmp_path, capsys, "--witness", str(exported))
    assert code == 1, text
    assert f"{newest.path.name} is missing from" in text and "was deleted" in text


def test_a_restart_after_deleting_the_newest_file_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink: SyslogSink
) -> None:
    """The next run links to the file before the deleted one: only the witness knows."""
    witness = SyslogWitness(str(sink.path))
    relay_run(tmp_path, T0, witness=witness)
    deleted = relay_run(tmp_path, T0 + 60, witness=witness)
    deleted.path.unlink()
    relay_run(tmp_path, T0 + 120, witness=witness)
    sink.wait_for(witness.sent)
    assert audit_cli(tmp_path, capsys)[0] == 0  # the links alone are consistent again
    exported = sink.export(tmp_path / "syslog")
    code, text = audit_cli(tmp_path, capsys, "--witness", str(exported))
    assert code == 1, text
    assert f"An earlier {deleted.path.name} (started t=" in text and "was deleted" in text


def test_older_file_deleted_while_running_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relay_run(tmp_path, T0)
    middle = relay_run(tmp_path, T0 + 60)
    running = relay_run(tmp_path, T0 + 120, close=False)
    middle.path.unlink()
    code, text = audit_cli(tmp_path, capsys)
    assert code == 1, text
    assert f"broken at {running.path.name}" in text and middle.path.name in text
    assert "a file is missing" in text
    running.close("done")


def test_oldest_file_deleted_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oldest = relay_run(tmp_path, T0)
    relay_run(tmp_path, T0 + 60)
    oldest.path.unlink()
    code, text = audit_cli(tmp_path, capsys)
    assert code == 1, text
    assert f"it continues {oldest.path.name}, which is not in this directory" in text


def test_every_problem_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = relay_run(tmp_path, T0)
    second = relay_run(tmp_path, T0 + 60)
    running = relay_run(tmp_path, T0 + 120, close=False)
    first.path.write_bytes(first.path.read_bytes().replace(b'"user3"', b'"userX"'))
    cut_seal(second.path)
    code, text = audit_cli(tmp_path, capsys)
    assert code == 1, text
    assert f"{first.path.name}: TAMPERED" in text and "was edited" in text
    assert f"{second.path.name} changed after this file was started" in text
    assert f"{running.path.name}: TAMPERED at line 1: broken-link (a running relay" in text
    running.close("done")


def test_no_audit_log_cannot_be_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = audit_cli(tmp_path, capsys)
    assert code == 2 and "no audit files" in text


# ---------------------------------------------------------------- audit: item 14


def test_key_file_is_accepted_by_audit_verify(tmp_path: Path) -> None:
    relay_run(tmp_path, T0)
    key_file = tmp_path / PUBLIC_KEY_FILE
    key_file.write_text(KEY.public.text() + "\n")
    done = subprocess.run(
        [*WARROOM, "audit", "--data-dir", str(tmp_path), "--verify", "--key", str(key_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_change_of_key_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    relay_run(tmp_path, T0, key=KEY)
    later = relay_run(tmp_path, T0 + 60, key=OTHER)
    code, text = audit_cli(tmp_path, capsys)
    assert code == 1, text
    assert f"The signing key changed: {later.path.name} is signed by {OTHER.public.text()}" in text
    assert KEY.public.text() in text
    code, text = audit_cli(
        tmp_path, capsys, "--key", KEY.public.text(), "--key", OTHER.public.text()
    )
    assert code == 0, text
    assert "The relay's key changed" in text and "both keys were given" in text
    code, text = audit_cli(tmp_path, capsys, "--key", KEY.public.text())
    assert code == 1, text
    assert f"signed by {OTHER.public.text()}, not by the given key" in text


# ---------------------------------------------------------------- the witness itself


def test_the_witness_sees_each_file_start_checkpoint_and_seal(
    tmp_path: Path, sink: SyslogSink
) -> None:
    witness = SyslogWitness(str(sink.path))
    audit = relay_run(tmp_path, T0, witness=witness)
    sink.wait_for(witness.sent)
    assert witness.dropped == 0 and witness.sent >= 3
    assert all(p == 10 * 8 + 6 for p in sink.priorities)  # authpriv.info
    assert all(m.startswith(b"warroom-witness[") for m in sink.messages)
    records, bad = read_witness(sink.export(tmp_path / "syslog"))
    assert bad == 0
    assert records[0].n == 0 and records[-1].seal
    lines = audit.path.read_text().splitlines()
    signed = [Checkpoint.parse(line.encode()) for line in lines if line.startswith("#warroom-")]
    assert [(r.n, r.hash) for r in records[1:]] == [(c.n, c.hash) for c in signed]
    assert {r.relay for r in records} == {KEY.public.text()}


def test_a_missing_syslog_loses_records_not_the_relay(tmp_path: Path) -> None:
    witness = SyslogWitness(str(tmp_path / "no-such-socket"))
    relay_run(tmp_path, T0, witness=witness)
    assert witness.sent == 0 and witness.dropped >= 3
    assert len(audit_files(tmp_path / "audit")) == 1


# ---------------------------------------------------------------- recordings: item 11


def re_sign(path: Path, key: SigningKey, edit: Callable[[bytes], bytes] = lambda b: b) -> None:
    """What a forger does: edit, then rebuild the chain and sign it with their own key.

    The header, which names the relay's real key, is kept as it was.
    """
    lines = path.read_bytes().splitlines(keepends=True)
    header, data = lines[0], [edit(line) for line in lines[1:] if not line.startswith(b"#")]
    path.unlink()
    writer = ChainWriter(path, key, header.decode())
    for number, line in enumerate(data):
        writer.append(line.decode(), float(number))
    writer.seal("the shell exited with status 0", float(len(data)))


def test_a_re_signed_recording_never_names_the_real_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = sample_session(tmp_path / "s1.cast", KEY)
    re_sign(cast, OTHER, lambda line: line.replace(b"disk", b"dusk"))
    code = main(["verify", str(cast)])
    text = capsys.readouterr().err
    assert code == 1, text
    assert "re-signed with another key" in text
    assert f"signed by {OTHER.public.text()}, not by the key the header names" in text
    assert f"signed by {KEY.public.text()}" not in text
    code = main(["verify", str(cast), "--key", KEY.public.text()])
    assert code == 1
    assert f"signed by {KEY.public.text()}" not in capsys.readouterr().err


# ---------------------------------------------------------------- export: item 13


def export_header(path: Path) -> dict[str, object]:
    header = json.loads(path.read_text().splitlines()[0])
    assert isinstance(header, dict)
    return header


@pytest.mark.parametrize("fmt", ["asciicast-v2", "asciicast-v3"])
def test_export_records_the_verdict_and_the_sources_hash(tmp_path: Path, fmt: str) -> None:
    cast = sample_session(tmp_path / "s1.cast", KEY)
    out = tmp_path / "out.cast"
    key = ["--key", KEY.public.text()]
    assert main(["export", str(cast), "--format", fmt, "-o", str(out), *key]) == 0
    provenance = export_header(out)["warroom_export"]
    assert provenance == {
        "source": "s1.cast",
        "source_sha256": hashlib.sha256(cast.read_bytes()).hexdigest(),
        "verdict": "intact",
        "signed_by": KEY.public.text(),
        "key_checked": True,
        "lines_verified": 17,
        "sealed": True,
    }


def test_export_refuses_a_tampered_recording_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = sample_session(tmp_path / "s1.cast", KEY)
    cast.write_bytes(cast.read_bytes().replace(b"disk", b"dusk", 1))
    out = tmp_path / "out.cast"
    assert main(["export", str(cast), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "refusing to export" in err and "(tampered)" in err and "--force" in err
    assert not out.exists()
    assert main(["export", str(cast), "-o", str(out), "--force"]) == 0
    provenance = export_header(out)["warroom_export"]
    assert isinstance(provenance, dict)
    assert provenance["verdict"] == "tampered"
    assert provenance["source_sha256"] == hashlib.sha256(cast.read_bytes()).hexdigest()
    assert "was edited" in str(provenance["problem"])


def test_export_refuses_an_interrupted_recording_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = sample_session(tmp_path / "s1.cast", KEY, seal=False)
    out = tmp_path / "out.cast"
    assert main(["export", str(cast), "-o", str(out)]) == 3
    assert "(interrupted)" in capsys.readouterr().err
    assert main(["export", str(cast), "-o", str(out), "--force"]) == 0
    assert export_header(out)["warroom_export"]["verdict"] == "interrupted"  # type: ignore[index]


def test_asciinema_reads_an_export_with_its_provenance(tmp_path: Path) -> None:
    pytest.importorskip("asciinema")
    cast = sample_session(tmp_path / "s1.cast", KEY)
    cast.write_bytes(cast.read_bytes().replace(b"logs", b"lugs", 1))
    out = tmp_path / "v2.cast"
    assert main(["export", str(cast), "--format", "asciicast-v2", "-o", str(out), "--force"]) == 0
    assert "warroom_export" in export_header(out)
    done = subprocess.run(
        [sys.executable, "-m", "asciinema", "cat", str(out)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"lugs" in done.stdout


def test_re_exporting_an_export_keeps_the_first_record(tmp_path: Path) -> None:
    cast = sample_session(tmp_path / "s1.cast", KEY)
    first, second = tmp_path / "a.cast", tmp_path / "b.cast"
    assert main(["export", str(cast), "-o", str(first)]) == 0
    assert main(["export", str(first), "-o", str(second)]) == 2  # unsigned: not evidence
    assert main(["export", str(first), "-o", str(second), "--force"]) == 0
    provenance = export_header(second)["warroom_export"]
    assert isinstance(provenance, dict)
    assert provenance["verdict"] == "unsigned"
    assert provenance["from_export"] == export_header(first)["warroom_export"]


# ---------------------------------------------------------------- verify --audit: item 12


def audited_recording(data: Path, seal: bool) -> Path:
    """A recording made with the relay's audit log, as ``warroom relay`` makes it."""
    audit = AuditLog(data / "audit", KEY, clock=clock_from(T0))
    (data / "recordings").mkdir()
    cast = sample_session(data / "recordings" / "s1.cast", KEY, seal=seal, audit=audit)
    audit.close("relay stopped")
    return cast


def verify_cli(cast: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", str(cast), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def audit_events(data: Path, kind: str) -> list[dict[str, object]]:
    return [e for e in read_events(data / "audit") if e["event"] == kind]


def test_the_audit_log_records_each_recordings_states(tmp_path: Path) -> None:
    cast = audited_recording(tmp_path / "data", seal=True)
    [start] = audit_events(tmp_path / "data", "recording.start")
    [seal] = audit_events(tmp_path / "data", "recording.seal")
    report = verify_file(cast, KEY.public)
    assert (start["file"], start["n"], start["key"]) == ("s1.cast", 0, KEY.public.text())
    assert (seal["n"], seal["hash"]) == (report.final_n, report.final_hash)
    assert seal["reason"] == "the shell exited with status 0" and seal["session"] == "s1"
    checkpoints = audit_events(tmp_path / "data", "recording.checkpoint")
    assert len(checkpoints) >= 5  # the 10-second session: about one a second, not one per 0.1 s
    lines = cast.read_text().splitlines()
    assert len(checkpoints) < sum(line.startswith("#warroom-checkpoint") for line in lines)


def test_a_sealed_recording_matches_its_audit_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = audited_recording(tmp_path / "data", seal=True)
    code, text = verify_cli(cast, capsys, "--audit", str(tmp_path / "data"))
    assert code == 0, text
    assert "The audit log recorded this seal" in text


def test_a_recording_cut_after_its_seal_is_tampered_not_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = audited_recording(tmp_path / "data", seal=True)
    cut_seal(cast)
    code, text = verify_cli(cast, capsys)
    assert code == 3, text  # alone, a cut at a checkpoint is what a crash leaves
    code, text = verify_cli(cast, capsys, "--audit", str(tmp_path / "data"))
    assert code == 1, text
    assert "s1.cast was cut short after it was sealed: the audit log recorded its seal" in text


def test_a_crashed_recording_is_told_apart_from_a_cut_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = audited_recording(tmp_path / "data", seal=False)
    code, text = verify_cli(cast, capsys, "--audit", str(tmp_path / "data"))
    assert code == 3, text
    assert "stopped without sealing it (a crash)" in text
    last = audit_events(tmp_path / "data", "recording.checkpoint")[-1]
    lines = cast.read_bytes().splitlines(keepends=True)
    cut = next(
        i
        for i, line in enumerate(lines)
        if line.startswith(b"#warroom-checkpoint")
        and Checkpoint.parse(line.rstrip(b"\n")).n < int(str(last["n"]))
        and not any(x.startswith(b"#warroom-checkpoint") for x in lines[i + 1 : i + 2])
    )
    cast.write_bytes(b"".join(lines[: cut + 1]))  # back to an earlier checkpoint
    code, text = verify_cli(cast, capsys)
    assert code == 3, text
    code, text = verify_cli(cast, capsys, "--audit", str(tmp_path / "data"))
    assert code == 1, text
    assert f"s1.cast was cut short: the audit log recorded it at n={last['n']}" in text


def test_verify_audit_without_a_record_cannot_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cast = sample_session(tmp_path / "s1.cast", KEY)
    relay_run(tmp_path / "data", T0)
    code, text = verify_cli(cast, capsys, "--audit", str(tmp_path / "data"))
    assert code == 2, text
    assert "has no record of s1.cast" in text


# ---------------------------------------------------------------- configuration


MINIMAL = """\
[relay]
listen = "127.0.0.1:8422"
name = "warroom"

[targets.box]
host = "127.0.0.1"
user = "demo"
key = "k"
known_hosts = "kh"
insecure_accept_any_host_key = false
"""


def parse(text: str, base: Path) -> RelayConfig:
    for name in ("k", "kh"):
        (base / name).write_text("")
    return parse_config(tomllib.loads(text), "relay.toml", base)


def test_evidence_settings_parse_and_default(tmp_path: Path) -> None:
    default = parse(MINIMAL, tmp_path)
    assert (default.evidence.max_loss, default.evidence.witness) == (0.1, "syslog")
    text = MINIMAL + '[recording]\nmax_loss = "250ms"\n[audit]\nwitness = "udp:10.0.0.9:514"\n'
    config = parse(text, tmp_path)
    assert (config.evidence.max_loss, config.evidence.witness) == (0.25, "udp:10.0.0.9:514")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[recording]\nmax_loss = "0ms"\n', "recording.max_loss"),
        ('[recording]\nmax_loss = "2m"\n', "between 10ms and 60s"),
        ('[audit]\nwitness = "tcp:host:514"\n', "audit.witness"),
        ("[audit]\nwitnes = 'none'\n", "witnes"),
    ],
)
def test_bad_evidence_settings_are_named(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(MINIMAL + extra, tmp_path)
