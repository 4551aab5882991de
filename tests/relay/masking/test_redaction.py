"""Secret masking: default patterns, streaming across frames and escapes, prompts.

Every fake secret below is assembled at run time, so that secret scanners do
not flag this file (and so that it shows what each pattern expects).
"""

from __future__ import annotations

import base64
import itertools
import random
import re

import pytest

from relay.masking import (
    DEFAULT_PATTERNS,
    Masking,
    OutputMasker,
    PatternError,
    SecretPattern,
    mask_text,
    parse_patterns,
)

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def token(n: int, alphabet: str = ALNUM, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


GH = token(36)
AWS_ID = "AKIA" + token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 2)
AWS_SECRET = token(40, ALNUM + "/+", 3)
GL = token(20, ALNUM + "-_", 4)
SLACK = "xoxb-" + "1234567890" + "-" + token(24, seed=5)
HOOK = f"T{token(8, seed=6)}/B{token(8, seed=7)}/{token(24, seed=8)}"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + token(43, ALNUM + "_-", 9)
LONG = token(300, ALNUM + "-_.", 30)
PEM_BODY = [token(64, ALNUM + "+/", 10 + i) for i in range(4)] + [
    token(20, ALNUM + "+/", 20) + "=="
]
PEM_B64 = base64.b64encode(
    (
        "-----BEGIN EC PRIVATE KEY-----\n"
        + "\n".join(PEM_BODY)
        + "\n-----END EC PRIVATE KEY-----\n"
    ).encode()
).decode()
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\r\n"
    + "".join(f"{line}\r\n" for line in PEM_BODY)
    + "-----END RSA PRIVATE KEY-----\r\n"
)

# (kind, output line, the secret that must not appear, what must stay visible)
CASES = [
    ("private-key", PEM + "$ ", PEM_BODY[0][:16], "-----END RSA PRIVATE KEY-----\r\n$ "),
    (
        "private-key",
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\n' + "\\n".join(PEM_BODY) + '\\n-----END"}',
        PEM_BODY[1][:16],
        '{"private_key": "-----BEGIN PRIVATE KEY-----',
    ),
    ("private-key", f"  tls.key: {PEM_B64}\r\n", PEM_B64[20:40], "tls.key: LS0tLS1CRUdJTi"),
    ("aws-access-key", f"aws_access_key_id = {AWS_ID}\r\n", AWS_ID[4:], "AKIA"),
    ("aws-secret-key", f"aws_secret_access_key = {AWS_SECRET}\r\n", AWS_SECRET[:12], "= "),
    (
        "aws-secret-key",
        f'"SecretAccessKey": "{AWS_SECRET}",\r\n',
        AWS_SECRET[:12],
        '"SecretAccessKey"',
    ),
    ("github-token", f"token ghp_{GH} ok\r\n", GH[:10], "ghp_"),
    ("github-token", f"gho_{GH}\r\n", GH[:10], "gho_"),
    ("github-token", f"ghs_{GH}\r\n", GH[:10], "ghs_"),
    (
        "github-token",
        f"github_pat_{token(22, seed=11)}_{token(59, seed=12)}\r\n",
        "_" + token(59, seed=12)[:8],
        "github_pat_",
    ),
    ("gitlab-token", f"using glpat-{GL} for ci\r\n", GL[:10], "using glpat-"),
    (
        "gitlab-token",
        f"git clone https://oauth2:glpat-{GL}@gitlab.example.com/x\r\n",
        GL[:9],
        "oauth2:",
    ),
    ("slack-token", f"SLACK={SLACK}\r\n", SLACK[5:15], "SLACK=xoxb-"),
    ("slack-webhook", f"curl https://hooks.slack.com/services/{HOOK}\r\n", HOOK[:12], "services/"),
    ("jwt", f"session {JWT} expires 3600\r\n", JWT[3:20], "session eyJ"),
    ("url-password", "DATABASE_URL=postgres://app:Hunter2x@db:5432/app\r\n", "Hunter2x", "app:"),
    ("authorization-header", "> Authorization: Bearer 8f3kd93kdlq0aZ\r\n", "8f3kd93k", "Bearer "),
    (
        "authorization-header",
        "-H 'Authorization: Basic YWxpY2U6aHVudGVyMg=='\r\n",
        "YWxpY2U6",
        "Basic ",
    ),
    (
        "password-assignment",
        "mysql --user=root --password=Hunter2x db\r\n",
        "Hunter2x",
        "--password=",
    ),
    ("password-assignment", "passwd: s3cr3t!pw\r\n", "s3cr3t", "passwd: "),
    (
        "password-assignment",
        "export CLIENT_SECRET='correct horse battery'\r\n",
        "horse",
        "CLIENT_SECRET='",
    ),
    ("password-assignment", "GET /cb?code=x&token=abc123def&state=1\r\n", "abc123def", "&state=1"),
    ("password-assignment", 'api_key: "k-9f8e7d"\r\n', "9f8e7d", 'api_key: "'),
    ("password-assignment", '{"password":"p@ss w0rd","user":"bob"}\r\n', "w0rd", '"user":"bob"'),
    ("password-assignment", f"password={LONG}\r\n", LONG[-20:], "password="),
    ("password-assignment", f"secret: '{LONG} tail'\r\n", "tail", "secret: '"),
    ("password-assignment", "$ export MYSQL_PWD=Hunter2x\r\n", "Hunter2x", "MYSQL_PWD="),
    ("password-assignment", "DB_PWD: 'Hunter2x'\r\n", "Hunter2x", "DB_PWD: '"),
    ("url-password", "redis://default:p@ss@w0rd!@cache:6379/0\r\n", "ss@w0rd", "@cache:6379"),
    ("command-password", "$ mysql -h db -u root -pHunter2x app\r\n", "Hunter2x", " app"),
    ("command-password", "mysqldump -u root '-pHunter2x' app\r\n", "Hunter2x", "mysqldump"),
    ("command-password", "sshpass -p Hunter2x ssh db1\r\n", "Hunter2x", " ssh db1"),
    ("command-password", "sshpass -pHunter2x scp a b\r\n", "Hunter2x", " scp a b"),
    ("command-password", "curl -u alice:Hunter2x https://x\r\n", "Hunter2x", "alice:"),
    ("command-password", "curl -s --user 'alice:Hunter2x' x\r\n", "Hunter2x", "alice:"),
    ("command-password", "docker login -u bob -p Hunter2x reg.io\r\n", "Hunter2x", " reg.io"),
    ("command-password", "docker login --password Hunter2x reg\r\n", "Hunter2x", " reg"),
    ("jwt", f"{JWT[:30]}\r\n{JWT[30:]}\r\n", JWT[30:50], "eyJ"),
    ("jwt", f"{JWT[:60]}\n{JWT[60:]}\n", JWT[60:80], "eyJ"),
]


def mask_stream(
    chunks: list[bytes], masker: OutputMasker | None = None
) -> tuple[list[bytes], list[Masking]]:
    """Feed ``chunks`` then flush at the end of the stream; return each release and the maskings."""
    masker = masker or OutputMasker()
    outs: list[bytes] = []
    maskings: list[Masking] = []
    for chunk in chunks:
        out, found = masker.feed(chunk)
        outs.append(out)
        maskings += found
    out, found = masker.flush(end_of_stream=True)
    outs.append(out)
    return outs, maskings + found


def kinds(maskings: list[Masking]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in maskings:
        counts[m.kind] = counts.get(m.kind, 0) + m.count
    return counts


def columns(data: bytes) -> int:
    """Printable columns (ASCII here), escape sequences ignored."""
    return len(re.sub(rb"\x1b\[[0-9;]*m|[\x00-\x1f]", b"", data))


# --------------------------------------------------------------------------
# Each default pattern


@pytest.mark.parametrize(("kind", "line", "secret", "visible"), CASES, ids=[c[0] for c in CASES])
def test_each_default_pattern_is_masked(kind: str, line: str, secret: str, visible: str) -> None:
    data = line.encode()
    outs, maskings = mask_stream([data])
    out = b"".join(outs)
    assert secret.encode() not in out
    assert visible.encode() in out
    assert b"*" in out
    assert kinds(maskings) == {kind: 1}
    assert columns(out) == columns(data), "masking must keep every column where it was"


def test_every_default_pattern_has_a_case() -> None:
    assert {p.name for p in DEFAULT_PATTERNS} == {c[0] for c in CASES}


def test_masking_reports_the_kind_never_the_secret() -> None:
    masker = OutputMasker()
    out, maskings = masker.feed(f"a ghp_{GH} b AKIA{AWS_ID[4:]} c ghu_{GH}\r\n".encode())
    assert sorted(maskings, key=lambda m: m.kind) == [
        Masking("aws-access-key", 1),
        Masking("github-token", 2),
    ]
    assert all(GH not in repr(m) for m in maskings)
    assert Masking("github-token", 2).marker() == {"what": "github-token", "count": 2}
    assert out.count(b"*") == 36 + 16 + 36


# --------------------------------------------------------------------------
# Split across frames


@pytest.mark.parametrize(("kind", "line", "secret", "visible"), CASES, ids=[c[0] for c in CASES])
def test_a_secret_split_at_every_byte_is_masked_the_same(
    kind: str, line: str, secret: str, visible: str
) -> None:
    data = line.encode()
    whole, _ = mask_stream([data])
    expected = b"".join(whole)
    for cut in range(len(data) + 1):
        outs, maskings = mask_stream([data[:cut], data[cut:]])
        assert b"".join(outs) == expected, f"split at {cut}"
        assert all(secret[:4].encode() not in out for out in outs), f"split at {cut}"
        assert kinds(maskings) == {kind: 1}, f"split at {cut}"


@pytest.mark.parametrize(("kind", "line", "secret", "visible"), CASES, ids=[c[0] for c in CASES])
def test_a_secret_fed_byte_by_byte_is_masked(
    kind: str, line: str, secret: str, visible: str
) -> None:
    data = line.encode()
    whole, _ = mask_stream([data])
    outs, maskings = mask_stream([data[i : i + 1] for i in range(len(data))])
    assert b"".join(outs) == b"".join(whole)
    assert kinds(maskings) == {kind: 1}


def test_random_frames_of_a_long_session_mask_like_one_piece() -> None:
    rng = random.Random(42)
    lines = []
    for i in range(400):
        if i % 7 == 0:
            lines.append(CASES[i % len(CASES)][1])
        else:
            lines.append(
                f"\x1b[32m{i:05d}\x1b[0m INFO worker-{i % 4} processed job id={i} in 3ms\r\n"
            )
    data = "".join(lines).encode()
    whole, expected_maskings = mask_stream([data])
    for _ in range(20):
        chunks = []
        pos = 0
        while pos < len(data):
            size = rng.choice((1, 2, 7, 64, 500, 4096))
            chunks.append(data[pos : pos + size])
            pos += size
        outs, maskings = mask_stream(chunks)
        assert b"".join(outs) == b"".join(whole)
        assert kinds(maskings) == kinds(expected_maskings)


def test_held_bytes_come_out_on_the_next_feed_when_they_prove_harmless() -> None:
    masker = OutputMasker()
    assert masker.feed(b"see ghp_abc") == (b"see ghp_", [])
    assert masker.pending
    assert masker.feed(b" later\r\n") == (b"abc later\r\n", [])
    assert not masker.pending


def test_an_idle_flush_masks_a_candidate_and_the_rest_follows() -> None:
    masker = OutputMasker()
    out1, _ = masker.feed(f"ghp_{GH[:20]}".encode())
    out2, flushed = masker.flush()  # the output paused mid-token
    out3, _ = masker.feed(f"{GH[20:]} done\r\n".encode())
    assert out1 == b"ghp_"
    assert out2 == b"*" * 20
    assert out3 == b"*" * 16 + b" done\r\n"
    assert flushed == [Masking("github-token", 1)]


def test_an_idle_flush_releases_what_cannot_be_a_secret() -> None:
    masker = OutputMasker()
    assert masker.feed(b"curl http://localhost:8080") == (b"curl http://localhost:8080", [])
    assert not masker.pending
    assert masker.feed(b"\r\nghp_x") == (b"\r\nghp_", [])
    assert masker.flush() == (b"*", [Masking("github-token", 1)])


def test_holdback_is_bounded_and_fails_closed() -> None:
    masker = OutputMasker(max_holdback=256)
    out, maskings = masker.feed(b"eyJ" + b"a" * 5000)  # could be a JWT header for ever
    assert out == b"eyJ" + b"*" * 5000
    assert maskings == [Masking("jwt", 1)]
    assert not masker.pending


def test_a_base64_certificate_is_not_a_key() -> None:
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB" + b"A" * 300).decode()
    data = f"  tls.crt: {cert}\r\n".encode()
    assert b"".join(mask_stream([data])[0]) == data


@pytest.mark.parametrize("frame", [7, 1000, 4096])
def test_a_secret_longer_than_the_holdback_is_masked_whole(frame: int) -> None:
    payload = base64.urlsafe_b64encode(b'{"sub":"' + b"x" * 30_000 + b'"}').rstrip(b"=")
    jwt = b"eyJhbGciOiJIUzI1NiJ9." + payload + b"." + token(43).encode()
    data = b"Authorization: " + jwt + b" end\r\n"
    outs, maskings = mask_stream([data[i : i + frame] for i in range(0, len(data), frame)])
    assert b"".join(outs) == b"Authorization: " + b"*" * len(jwt) + b" end\r\n"
    assert kinds(maskings) == {"jwt": 1}


# --------------------------------------------------------------------------
# Escape sequences


def test_colour_codes_inside_a_token_are_kept_and_the_token_masked() -> None:
    data = f"ghp_\x1b[31m{GH[:10]}\x1b[1;32m{GH[10:]}\x1b[0m\r\n".encode()
    outs, maskings = mask_stream([data])
    out = b"".join(outs)
    assert out == f"ghp_\x1b[31m{'*' * 10}\x1b[1;32m{'*' * 26}\x1b[0m\r\n".encode()
    assert maskings == [Masking("github-token", 1)]


def test_colour_codes_between_key_and_value() -> None:
    data = b"\x1b[36mpassword\x1b[0m=\x1b[33mHunter2x\x1b[0m\r\n"
    out = b"".join(mask_stream([data])[0])
    assert out == b"\x1b[36mpassword\x1b[0m=\x1b[33m********\x1b[0m\r\n"


def test_an_escape_sequence_split_across_frames() -> None:
    data = f"ghp_\x1b[38;5;196m{GH}\x1b[0m\r\n".encode()
    whole = b"".join(mask_stream([data])[0])
    assert GH.encode() not in whole
    for cut in range(len(data) + 1):
        outs, _ = mask_stream([data[:cut], data[cut:]])
        assert b"".join(outs) == whole, f"split at {cut}"


def test_an_idle_flush_keeps_an_unfinished_escape_sequence() -> None:
    masker = OutputMasker()
    assert masker.feed(b"ghp_\x1b[3") == (b"ghp_", [])
    assert not masker.pending  # nothing visible is waiting
    assert masker.flush() == (b"", [])
    out, maskings = masker.feed(f"1m{GH}\x1b[0m\r\n".encode())
    assert out == b"\x1b[31m" + b"*" * 36 + b"\x1b[0m\r\n"
    assert maskings == [Masking("github-token", 1)]


def test_osc_title_and_cursor_moves_are_not_text() -> None:
    data = f"\x1b]0;build\x07\x1b[2;5Hghp_{GH}\x1b[K\r\n".encode()
    out = b"".join(mask_stream([data])[0])
    assert out == b"\x1b]0;build\x07\x1b[2;5Hghp_" + b"*" * 36 + b"\x1b[K\r\n"


# --------------------------------------------------------------------------
# Private keys over many lines and frames


def test_a_private_key_printed_over_many_frames() -> None:
    data = ("$ cat id_rsa\r\n" + PEM + "$ ").encode()
    expected = (
        "$ cat id_rsa\r\n-----BEGIN RSA PRIVATE KEY-----\r\n"
        + "".join("*" * len(line) + "\r\n" for line in PEM_BODY)
        + "-----END RSA PRIVATE KEY-----\r\n$ "
    ).encode()
    for size in (1, 3, 17, 64, 65, 100):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        outs, maskings = mask_stream(chunks)
        assert b"".join(outs) == expected, f"frames of {size}"
        assert maskings == [Masking("private-key", 1)]
        assert all(line[:8].encode() not in b"".join(outs) for line in PEM_BODY)


def test_a_private_key_with_headers_and_a_pgp_block() -> None:
    data = (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\r\n"
        "Version: GnuPG v2\r\n"
        "\r\n"
        f"{PEM_BODY[0]}\r\n"
        "=Ab3x\r\n"
        "-----END PGP PRIVATE KEY BLOCK-----\r\n"
    ).encode()
    out = b"".join(mask_stream([data])[0])
    assert PEM_BODY[0][:10].encode() not in out
    assert b"=Ab3x" not in out
    assert out.endswith(b"-----END PGP PRIVATE KEY BLOCK-----\r\n")


def test_a_key_block_ends_at_a_line_that_cannot_belong_to_it() -> None:
    data = (
        b"$ grep -r 'BEGIN RSA PRIVATE KEY' .\r\n"
        b"./notes:-----BEGIN RSA PRIVATE KEY-----\r\n"
        b"alice@host:~$ ls\r\n"
    )
    out = b"".join(mask_stream([data])[0])
    assert out == data


def test_the_prompt_after_a_key_is_not_delayed() -> None:
    masker = OutputMasker()
    out, _ = masker.feed(PEM.encode())
    assert out.endswith(b"-----END RSA PRIVATE KEY-----\r\n")
    assert masker.feed(b"user@host:~$ ") == (b"user@host:~$ ", [])


# --------------------------------------------------------------------------
# No false positives on ordinary output


ORDINARY = [
    # ls -l
    "total 48\r\n"
    "drwxr-xr-x  5 alice staff   160 Jan 12 09:41 .\r\n"
    "-rw-r--r--  1 alice staff  1832 Jan 12 09:40 token.py\r\n"
    "-rw-------  1 alice staff   411 Jan 12 09:40 secrets.yaml\r\n"
    "lrwxr-xr-x  1 root  wheel    11 Jan  1  2024 passwd -> /etc/passwd\r\n",
    # git log
    "commit 3f2a9c0d1e4b5a6978877665544332211aabbccd\r\n"
    "Author: Alice Example <alice@example.com>\r\n"
    "Date:   Mon Jan 12 09:41:00 2026 +0100\r\n"
    "\r\n"
    "    Refresh token: handle expiry before retrying\r\n"
    "    Reset password: fix the redirect\r\n",
    # a JSON log line
    '{"ts":"2026-01-12T09:41:00.123Z","level":"info","msg":"request done","status":200,'
    '"path":"/api/v1/users?id=3","duration_ms":12,"token_count":42,"max_tokens":1000}\r\n',
    # base64 that is not a JWT, and a hash
    "aGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgc2VjcmV0IGF0IGFsbA==\r\n"
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\r\n",
    # env, ps, docker, URLs with ports, pytest
    "PWD=/home/alice\r\nOLDPWD=/tmp\r\nSHELL=/bin/bash\r\n"
    "root  1  0.0  0.1 168104 11896 ?  Ss  09:41  0:02 /sbin/init\r\n"
    "CONTAINER ID  IMAGE  PORTS  NAMES\r\n3f2a9c0d1e4b  nginx  0.0.0.0:8080->80/tcp  web\r\n"
    "Listening on http://127.0.0.1:8080/ and https://example.com:8443/health\r\n"
    "ssh://git@github.com:22/alice/repo.git\r\n"
    "===== 12 passed, 1 skipped in 3.21s =====\r\n"
    "tokens: 3, secrets: 0, passwords: 2\r\n",
    # kubectl
    "NAME                  TYPE                                  DATA   AGE\r\n"
    "default-token-x7k2p   kubernetes.io/service-account-token   3      12d\r\n",
    # prose mentioning keys
    "Run `ssh-keygen` to create a private key, then add the token to your settings.\r\n"
    "The password must be at least 12 characters.\r\n",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_shell_output_is_left_alone(text: str) -> None:
    data = text.encode()
    outs, maskings = mask_stream([data])
    assert b"".join(outs) == data
    assert maskings == []


def test_ordinary_output_is_not_held_back() -> None:
    masker = OutputMasker()
    for text in ORDINARY:
        out, _ = masker.feed(text.encode())
        assert out == text.encode()
        assert not masker.pending


# --------------------------------------------------------------------------
# Interactive echo


def test_typed_echo_is_released_immediately() -> None:
    masker = OutputMasker()
    assert masker.feed(b"alice@host:~$ ") == (b"alice@host:~$ ", [])
    for ch in b"ls -la /etc && git status":
        assert masker.feed(bytes([ch])) == (bytes([ch]), [])
    assert not masker.pending


def test_typing_a_token_prefix_is_released_until_the_secret_part() -> None:
    masker = OutputMasker()
    for ch in b"echo ghp_":
        assert masker.feed(bytes([ch])) == (bytes([ch]), [])
    assert masker.feed(b"Q") == (b"", [])  # now it could be a token
    assert masker.pending


def test_a_typed_password_assignment_is_masked_key_by_key() -> None:
    masker = OutputMasker()
    released = b""
    for ch in b"export DB_PASSWORD=Hunter2x":
        out, _ = masker.feed(bytes([ch]))
        released += out
        if masker.pending:  # the caller's idle timer fires between keystrokes
            released += masker.flush()[0]
    released += masker.feed(b"\r\n")[0]
    assert released == b"export DB_PASSWORD=********\r\n"


# --------------------------------------------------------------------------
# UTF-8


def test_non_ascii_secrets_keep_their_columns() -> None:
    data = "password=pässwörd漢字 ok\r\n".encode()
    out = b"".join(mask_stream([data])[0])
    assert out == b"password=" + b"*" * 12 + b" ok\r\n"  # 8 + two double-width characters


def test_a_character_split_across_frames() -> None:
    data = "password=pässwörd漢字 ok\r\n".encode()
    whole = b"".join(mask_stream([data])[0])
    for cut in range(len(data) + 1):
        assert b"".join(mask_stream([data[:cut], data[cut:]])[0]) == whole


def test_non_ascii_output_passes_through() -> None:
    data = "Grüße, 世界 — ok ✓\r\n".encode()
    assert b"".join(mask_stream([data])[0]) == data


# --------------------------------------------------------------------------
# Chat and one-shot text


def test_mask_text_for_chat() -> None:
    text, maskings = mask_text(f"try this token ghp_{GH} and password=Hunter2x")
    assert text == "try this token ghp_" + "*" * 36 + " and password=********"
    assert kinds(maskings) == {"github-token": 1, "password-assignment": 1}


# --------------------------------------------------------------------------
# Configured patterns


def test_extra_patterns_from_config() -> None:
    extra = parse_patterns(
        [
            {"name": "acme-key", "regex": r"acme_(?P<secret>[0-9a-f]{32})"},
            {"name": "employee-id", "regex": r"(?i)emp-\d{6}"},
        ]
    )
    masker = OutputMasker((*DEFAULT_PATTERNS, *extra))
    data = f"key acme_{'ab12' * 8} for EMP-123456\r\n".encode()
    outs, maskings = mask_stream([data], masker)
    assert b"".join(outs) == b"key acme_" + b"*" * 32 + b" for " + b"*" * 10 + b"\r\n"
    assert kinds(maskings) == {"acme-key": 1, "employee-id": 1}


def test_extra_patterns_are_held_back_across_frames_too() -> None:
    (pattern,) = parse_patterns([{"name": "acme-key", "regex": r"acme_(?P<secret>[0-9a-f]{32})"}])
    data = f"acme_{'ab12' * 8}\r\n".encode()
    for cut in range(len(data) + 1):
        outs, _ = mask_stream([data[:cut], data[cut:]], OutputMasker([pattern]))
        assert b"".join(outs) == b"acme_" + b"*" * 32 + b"\r\n"
        assert all(b"ab12" not in out for out in outs)


@pytest.mark.parametrize(
    ("entry", "where", "message"),
    [
        ({"name": "x", "regex": "a("}, "patterns[0].regex", "invalid regular expression"),
        ({"name": "x", "regex": "a*"}, "patterns[0].regex", "empty string"),
        ({"name": "x", "regex": "a(?P<secret>b*)"}, "patterns[0].regex", "secret group"),
        ({"name": "x", "regex": r"(a)\1"}, "patterns[0].regex", "backreferences"),
        ({"name": "x", "regex": "pässword=.+"}, "patterns[0].regex", "ASCII"),
        ({"name": "Bad Name", "regex": "a"}, "patterns[0].name", "not a valid name"),
        ({"name": "x"}, "patterns[0].regex", "required"),
        ({"name": "x", "regex": 3}, "patterns[0].regex", "must be a string"),
        ({"name": "x", "regex": "a", "kind": "y"}, "patterns[0].kind", "unknown key"),
        ({"name": "x", "regex": "(?i)a(?-i:B)"}, "patterns[0].regex", "not supported"),
    ],
)
def test_bad_patterns_are_refused_with_where_and_why(
    entry: dict[str, object], where: str, message: str
) -> None:
    with pytest.raises(PatternError) as info:
        parse_patterns([entry])
    assert info.value.where == where
    assert message in info.value.message


def test_patterns_must_be_a_list() -> None:
    with pytest.raises(PatternError, match="must be a list"):
        parse_patterns("acme")  # type: ignore[arg-type]


def test_case_insensitive_patterns_match_any_case() -> None:
    pattern = SecretPattern("acme", r"(?i)acme-token[:=](?P<secret>[a-z]{8})")
    outs, _ = mask_stream([b"ACME-TOKEN=AbCdEfGh Acme-Token:abcdefgh\r\n"], OutputMasker([pattern]))
    assert b"".join(outs) == b"ACME-TOKEN=******** Acme-Token:********\r\n"


# --------------------------------------------------------------------------
# The prefix patterns that decide what to hold back


@pytest.mark.parametrize("pattern", DEFAULT_PATTERNS, ids=[p.name for p in DEFAULT_PATTERNS])
def test_every_prefix_of_a_match_is_held_back(pattern: SecretPattern) -> None:
    """The holdback rule is exact: any cut inside a secret holds back from the secret's start."""
    samples = [c[1].encode() for c in CASES if c[0] == pattern.name]
    for sample in samples:
        for m in pattern.finditer(sample):
            start, end = pattern.secret_span(m)
            for cut in range(start + 1, end + 1):
                held = pattern.held_from(sample[:cut])
                assert held is not None and held <= start, (sample[:cut], held, start)


WRITER_CASES = [
    r"a(?P<secret>b+)c",
    r"(?:ab|ba){2}",
    r"a[^b]?b",
    r"x(?=ab)a",
    r"(?i)A(?P<secret>[a-b]{2,3})",
    r"a(?:b|x-)*?c",
    r"\ba-b\b",
    r"(?>ab|a)b",
    r"a{2,}b?",
    r"(?:a|bx|c)(?P<secret>b{2})",
    r"(?<!b)ab",
    r"a(?!b)[a-c]{2}",
    r"(?i)(?:ab|ca|bb)x(?P<secret>c+)",
    r"a(?P<secret>b|cc)(?:x|$)",
    r"a++b",
    r"[-a]{1,2}x?b{0,3}c",
]


@pytest.mark.parametrize("source", WRITER_CASES)
def test_the_regex_writer_is_exact_and_its_prefixes_complete(source: str) -> None:
    """Over every string of up to 5 characters: the rewritten regex (lowered, split) finds
    what the original finds, and every cut inside a match is held from the secret's start."""
    pattern = SecretPattern("t", source)
    original = re.compile(source.encode())
    group = "secret" if "secret" in original.groupindex else 0
    for n in range(6):
        for letters in itertools.product("abBcx-", repeat=n):
            text = "".join(letters).encode()
            found = sorted(m.span() for m in pattern.finditer(text))
            assert found == [m.span() for m in original.finditer(text)], text
            for m in original.finditer(text):
                start, end = m.span(group)
                for cut in range(start + 1, end + 1):
                    held = pattern.held_from(text[:cut])
                    assert held is not None and held <= start, (text, cut)


@pytest.mark.parametrize(
    "frame",
    [b"DONE-42\r\n\x1b[?2004h$ ", b"\x1b[1mbold\x1b[0m", b"ab\x1b[?2004hcd", b"\x1b]0;t\x07x"],
)
def test_frames_with_escapes_and_no_secret_are_released_whole(frame: bytes) -> None:
    """A prompt after an escape sequence must not wait for the idle flush."""
    masker = OutputMasker()
    assert masker.feed(frame) == (frame, [])
    assert not masker.pending
