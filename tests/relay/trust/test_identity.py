"""Tokens, invites, join URLs and SSH-key challenges, with real keys and no clock."""

from __future__ import annotations

import base64
import json
import os
import shlex

import asyncssh
import pytest

from relay.core.roles import Role
from relay.trust.identity import (
    CLOCK_SKEW,
    MAX_CREDENTIAL_LENGTH,
    AuthError,
    Claims,
    CredentialType,
    JoinTarget,
    challenge_payload,
    encode,
    invite_url,
    issue,
    new_claims,
    parse_authorized_key,
    parse_join_target,
    relay_base_url,
    sign_challenge,
    verify,
    verify_challenge,
)
from relay.trust.keys import SigningKey
from tui.cli import build_parser

NOW = 1_700_000_000.0
RELAY_KEY = SigningKey.generate()
OTHER_RELAY_KEY = SigningKey.generate()
AUD = "relay-a"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def auth_error(
    credential: str,
    *,
    now: float = NOW,
    typ: CredentialType = "token",
    session: str | None = None,
) -> AuthError:
    """Verify ``credential`` expecting a refusal, and return it."""
    with pytest.raises(AuthError) as caught:
        verify(RELAY_KEY.public, credential, now, typ=typ, audience=AUD, session=session)
    return caught.value


# --- credentials -----------------------------------------------------------------------------


def test_token_round_trips() -> None:
    token = issue(
        RELAY_KEY, "token", "alice", Role.LEAD, "s1", 3600, NOW, invite="inv123", audience=AUD
    )
    claims = verify(RELAY_KEY.public, token, NOW + 10, typ="token", audience=AUD, session="s1")

    assert claims == Claims(
        typ="token",
        sub="alice",
        role=Role.LEAD,
        ses="s1",
        iat=NOW,
        exp=NOW + 3600,
        jti=claims.jti,
        aud=AUD,
        inv="inv123",
    )
    assert len(claims.jti) == 18
    assert token.startswith("wr1.") and len(token) < 400


def test_invite_for_any_session_round_trips() -> None:
    invite = issue(RELAY_KEY, "invite", "guest", Role.VIEWER, None, 600, NOW, audience=AUD)
    claims = verify(RELAY_KEY.public, invite, NOW, typ="invite", audience=AUD, session="anything")
    assert (claims.typ, claims.ses, claims.inv, claims.role) == ("invite", None, None, Role.VIEWER)


def test_every_id_printed_can_be_typed_back_to_the_command_line() -> None:
    """``warroom invite --revoke ID`` takes what the relay printed, whatever the draw.

    Ids once came from base64url, and one in 64 began with ``-``: argparse
    then refused it as an option ("expected one argument").
    """
    parser = build_parser()
    for _ in range(500):
        claims = new_claims("invite", "guest", Role.VIEWER, None, 600, NOW, audience=AUD)
        args = parser.parse_args(["invite", "--revoke", claims.jti])
        assert args.revoke == claims.jti


def test_each_credential_gets_a_fresh_id() -> None:
    first = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW, audience=AUD)
    second = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW, audience=AUD)
    jtis = {
        verify(RELAY_KEY.public, c, NOW, typ="token", audience=AUD).jti for c in (first, second)
    }
    assert len(jtis) == 2


def test_issue_refuses_nonsense_lifetimes() -> None:
    for ttl in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            issue(RELAY_KEY, "token", "alice", Role.LEAD, None, ttl, NOW, audience=AUD)


def test_another_relays_signature_is_refused() -> None:
    forged = issue(OTHER_RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW, audience=AUD)
    error = auth_error(forged)
    assert error.code == "bad_signature"
    assert "not issued by this relay" in error.message


def test_flipped_payload_byte_is_refused() -> None:
    prefix, payload, signature = issue(
        RELAY_KEY, "invite", "guest", Role.VIEWER, None, 60, NOW, audience=AUD
    ).split(".")
    middle = len(payload) // 2
    flipped = payload[:middle] + ("A" if payload[middle] != "A" else "B") + payload[middle + 1 :]
    assert auth_error(f"{prefix}.{flipped}.{signature}", typ="invite").code == "bad_signature"


def test_escalated_role_with_copied_signature_is_refused() -> None:
    prefix, payload, signature = issue(
        RELAY_KEY, "token", "bob", Role.VIEWER, None, 60, NOW, audience=AUD
    ).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "lead"
    tampered = b64(json.dumps(claims).encode())
    assert auth_error(f"{prefix}.{tampered}.{signature}").code == "bad_signature"


def test_expired_invite_says_how_long_ago_and_what_to_do() -> None:
    invite = issue(RELAY_KEY, "invite", "guest", Role.VIEWER, None, 60, NOW, audience=AUD)
    error = auth_error(invite, now=NOW + 60 + 180, typ="invite")
    assert error.code == "expired"
    assert error.message == "this invite expired 3 minutes ago; ask the lead for a new one"
    # a few seconds of leeway for clocks that disagree, and not a moment more
    assert verify(
        RELAY_KEY.public, invite, NOW + 60 + CLOCK_SKEW - 0.01, typ="invite", audience=AUD
    )
    at_expiry = auth_error(invite, now=NOW + 60 + CLOCK_SKEW, typ="invite")
    assert at_expiry.code == "expired"
    assert "expired 5 seconds ago" in at_expiry.message


def test_a_credential_dated_in_the_future_is_refused_past_the_skew() -> None:
    token = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW + CLOCK_SKEW, audience=AUD)
    assert verify(RELAY_KEY.public, token, NOW, typ="token", audience=AUD).sub == "alice"
    early = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 600, NOW + 120, audience=AUD)
    error = auth_error(early)
    assert error.code == "not_yet_valid"
    assert error.message == (
        "this credential is dated 2 minutes in the future; check the relay's clock"
    )


def test_a_credential_is_bound_to_the_relay_that_issued_it() -> None:
    """Two relays that share a key (a copied data dir) still refuse each other's tokens."""
    token = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW, audience="relay-b")
    error = auth_error(token)
    assert error.code == "wrong_relay"
    assert error.message == (
        "your login token was issued by relay 'relay-b', not by this relay ('relay-a'); "
        "sign in to this relay with `warroom login`"
    )
    invite = issue(RELAY_KEY, "invite", "g", Role.VIEWER, None, 60, NOW, audience="relay-b")
    assert "ask the lead for an invite to this relay" in auth_error(invite, typ="invite").message


def test_expired_token_asks_to_sign_in_again() -> None:
    token = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW, audience=AUD)
    error = auth_error(token, now=NOW + 60 + 86400 * 2)
    assert (error.code, str(error)) == (
        "expired",
        "your login token expired 2 days ago; sign in again with `warroom join`",
    )


def test_invite_is_not_a_token_and_vice_versa() -> None:
    invite = issue(RELAY_KEY, "invite", "guest", Role.VIEWER, None, 60, NOW, audience=AUD)
    token = issue(RELAY_KEY, "token", "guest", Role.VIEWER, None, 60, NOW, audience=AUD)
    assert auth_error(invite, typ="token").code == "wrong_type"
    assert auth_error(token, typ="invite").code == "wrong_type"


def test_session_bound_credential_admits_only_to_its_session() -> None:
    invite = issue(RELAY_KEY, "invite", "guest", Role.VIEWER, "incident-42", 60, NOW, audience=AUD)
    error = auth_error(invite, typ="invite", session="incident-7")
    assert error.code == "wrong_session"
    assert "'incident-42'" in error.message and "'incident-7'" in error.message
    # Without a session to compare, the caller gets the claims and routes by claims.ses.
    assert verify(RELAY_KEY.public, invite, NOW, typ="invite", audience=AUD).ses == "incident-42"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "wr1.",
        "wr1..",
        "wr2.e30.AAAA",
        "wr1.e30",
        "wr1.e30.AAAA.BBBB",
        "wr1.e3 0.AAAA",
        "wr1.e30=.AAAA",
        "wr1.e30.AAAA=",
        "wr1.e30.A",
        "wr1.€.AAAA",
        "Bearer wr1.e30.AAAA",
    ],
)
def test_garbage_is_malformed(garbage: str) -> None:
    assert auth_error(garbage).code == "malformed"


def test_oversized_credential_is_malformed_before_decoding() -> None:
    token = issue(RELAY_KEY, "token", "alice", Role.LEAD, None, 60, NOW, audience=AUD)
    padded = token + "A" * (MAX_CREDENTIAL_LENGTH + 1 - len(token))
    assert auth_error(padded).code == "malformed"


def sign_raw_claims(fields: object) -> str:
    """Sign arbitrary JSON with the relay's key, to test claim validation past the signature."""
    signed = f"wr1.{b64(json.dumps(fields).encode())}"
    return f"{signed}.{b64(RELAY_KEY.sign(signed.encode()))}"


GOOD_FIELDS: dict[str, object] = {
    "typ": "token",
    "sub": "alice",
    "role": "lead",
    "ses": None,
    "iat": NOW,
    "exp": NOW + 60,
    "jti": "abc",
    "aud": AUD,
}


def test_raw_claims_helper_makes_valid_tokens() -> None:
    assert (
        verify(RELAY_KEY.public, sign_raw_claims(GOOD_FIELDS), NOW, typ="token", audience=AUD).sub
        == "alice"
    )


@pytest.mark.parametrize(
    "fields",
    [
        [1, 2],
        "token",
        {k: v for k, v in GOOD_FIELDS.items() if k != "exp"},
        {k: v for k, v in GOOD_FIELDS.items() if k != "sub"},
        {k: v for k, v in GOOD_FIELDS.items() if k != "aud"},
        {**GOOD_FIELDS, "aud": ""},
        {**GOOD_FIELDS, "typ": "cookie"},
        {**GOOD_FIELDS, "role": "driver"},
        {**GOOD_FIELDS, "exp": "tomorrow"},
        {**GOOD_FIELDS, "exp": True},
        {**GOOD_FIELDS, "sub": ""},
        {**GOOD_FIELDS, "ses": 7},
    ],
)
def test_signed_but_missing_or_mistyped_claims_are_malformed(fields: object) -> None:
    assert auth_error(sign_raw_claims(fields)).code == "malformed"


def test_encode_signs_prebuilt_claims() -> None:
    claims = Claims("token", "alice", Role.REVIEWER, None, NOW, NOW + 5, "fixed-id", AUD)
    assert (
        verify(RELAY_KEY.public, encode(RELAY_KEY, claims), NOW, typ="token", audience=AUD)
        == claims
    )


# --- join URLs -------------------------------------------------------------------------------


def test_invite_url_pastes_unquoted_and_parses_back() -> None:
    invite = issue(RELAY_KEY, "invite", "guest", Role.VIEWER, None, 60, NOW, audience=AUD)
    url = invite_url("ws://127.0.0.1:8422/", invite)

    assert url == f"ws://127.0.0.1:8422/invite/{invite}"
    assert shlex.quote(url) == url
    assert parse_join_target(url) == JoinTarget(url="ws://127.0.0.1:8422", invite=invite)


def test_invite_url_refuses_what_a_shell_would_mangle_or_is_no_invite() -> None:
    invite = issue(RELAY_KEY, "invite", "guest", Role.VIEWER, None, 60, NOW, audience=AUD)
    with pytest.raises(ValueError, match=r"host name in relay\.public_url"):
        invite_url("ws://[::1]:8422", invite)
    with pytest.raises(ValueError, match="not a warroom invite"):
        invite_url("ws://127.0.0.1:8422", "wr1.abc")
    with pytest.raises(ValueError, match="not a relay URL"):
        invite_url("http://127.0.0.1:8422", invite)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ws://127.0.0.1:8422", JoinTarget("ws://127.0.0.1:8422")),
        ("  wss://relay.example.com/ \n", JoinTarget("wss://relay.example.com")),
        ("ws://[::1]:8422", JoinTarget("ws://[::1]:8422")),
        ("ws://relay:8422/s/incident-42", JoinTarget("ws://relay:8422", session="incident-42")),
        ("wss://relay/s/AbC_9-x.y/", JoinTarget("wss://relay", session="AbC_9-x.y")),
        ("ws://relay:1/invite/wr1.e30.AAAA", JoinTarget("ws://relay:1", invite="wr1.e30.AAAA")),
    ],
)
def test_parse_join_target_accepts_the_three_forms(text: str, expected: JoinTarget) -> None:
    assert parse_join_target(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("relay.example.com:8422", "does not start with ws://"),
        ("https://relay.example.com", "does not start with ws://"),
        ("ws://", "names no host"),
        ("ws://relay:99999", "port"),
        ("ws://user:pw@relay:8422", "user name or password"),
        ("ws://relay:8422/?token=x", "query"),
        ("ws://relay:8422/#frag", "fragment"),
        ("ws://relay:8422/sessions/x", "is not /invite/"),
        ("ws://relay:8422/s/", "is not /invite/"),
        ("ws://relay:8422/s/a/b", "is not /invite/"),
        ("ws://relay:8422/s/..", "is not /invite/"),
        ("ws://relay:8422/invite/wr1.abc", "copied whole"),
        ("ws://relay:8422/invite/", "copied whole"),
    ],
)
def test_parse_join_target_explains_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_join_target(text)
    assert reason in str(caught.value)
    assert "Expected a relay URL" in str(caught.value)


def test_relay_base_url_normalises_trailing_slash() -> None:
    assert relay_base_url("wss://relay.example.com:8422/") == "wss://relay.example.com:8422"


# --- SSH-key challenges ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ed25519_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519", comment="alice@laptop")


@pytest.fixture(scope="module")
def rsa_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-rsa", key_size=2048)


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key().decode().strip()


def fresh_payload(user: str = "alice", relay: str = "warroom") -> bytes:
    return challenge_payload(relay, os.urandom(32), user)


@pytest.mark.parametrize("key_name", ["ed25519_key", "rsa_key"])
def test_challenge_signed_by_an_authorized_key_verifies(
    key_name: str, request: pytest.FixtureRequest
) -> None:
    key: asyncssh.SSHKey = request.getfixturevalue(key_name)
    other = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    payload = fresh_payload()
    signature = sign_challenge(key, payload)

    assert verify_challenge([public_line(other), public_line(key)], payload, signature)
    assert not verify_challenge([public_line(other)], payload, signature)
    assert not verify_challenge([], payload, signature)


def test_rsa_signs_with_sha256_and_sha1_is_refused(rsa_key: asyncssh.SSHKey) -> None:
    payload = fresh_payload()
    assert sign_challenge(rsa_key, payload)[4:16] == b"rsa-sha2-256"
    # A SHA-1 "ssh-rsa" signature is valid SSH but too weak: refused before any
    # verification (which this OpenSSL build could not even perform).
    sha1_signature = rsa_key.sign(payload, b"ssh-rsa")
    assert sha1_signature[4:11] == b"ssh-rsa"
    assert not verify_challenge([public_line(rsa_key)], payload, sha1_signature)


def test_signature_over_another_challenge_is_refused(ed25519_key: asyncssh.SSHKey) -> None:
    authorized = [public_line(ed25519_key)]
    nonce = os.urandom(32)
    signature = sign_challenge(ed25519_key, challenge_payload("warroom", nonce, "alice"))

    assert verify_challenge(authorized, challenge_payload("warroom", nonce, "alice"), signature)
    assert not verify_challenge(authorized, fresh_payload(), signature)
    assert not verify_challenge(authorized, challenge_payload("other", nonce, "alice"), signature)
    assert not verify_challenge(authorized, challenge_payload("warroom", nonce, "bob"), signature)


def test_garbage_signatures_and_key_lines_are_refused_quietly(
    ed25519_key: asyncssh.SSHKey,
) -> None:
    payload = fresh_payload()
    signature = sign_challenge(ed25519_key, payload)
    authorized = ["not a key", public_line(ed25519_key)]
    assert verify_challenge(authorized, payload, signature)
    for garbage in (b"", b"\xff\xff\xff\xff", b"\x00\x00\x00\x0bssh-ed25519", b"x" * 10000):
        assert not verify_challenge(authorized, payload, garbage)


def test_challenge_payload_is_domain_separated_and_unambiguous() -> None:
    nonce = bytes(16)
    payload = challenge_payload("warroom", nonce, "alice")
    assert payload.startswith(b"warroom-auth-v1\0")
    assert challenge_payload("ab", nonce, "c") != challenge_payload("a", nonce, "bc")
    with pytest.raises(ValueError, match="nonce"):
        challenge_payload("warroom", b"short", "alice")


def test_parse_authorized_key_refuses_weak_and_misleading_input(
    ed25519_key: asyncssh.SSHKey,
) -> None:
    assert parse_authorized_key(public_line(ed25519_key)).algorithm == b"ssh-ed25519"
    small_rsa = asyncssh.generate_private_key("ssh-rsa", key_size=1024)
    with pytest.raises(ValueError, match="1024 bits"):
        parse_authorized_key(public_line(small_rsa))
    with pytest.raises(ValueError, match="OpenSSH public key line"):
        parse_authorized_key(ed25519_key.export_private_key().decode())
    with pytest.raises(ValueError, match="algorithm mismatch"):
        parse_authorized_key("ssh-rsa " + public_line(ed25519_key).split()[1])
