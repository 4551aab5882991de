"""What the relay sends its clients: one TypedDict per message ``type``.

docs/protocol.md's "Relay → client messages" lists the same messages and
fields (``tests/relay/core/test_protocol.py`` holds the two together). The
relay builds these and clients read them; records nested in them (a grant, a
request, a recording's entry) travel in their ``public()`` form. What clients
send, and how the relay checks it, is :mod:`relay.core.protocol`.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, get_args

Record = dict[str, Any]
"""A record in its ``public()`` form: a grant, an access request, an invite, a recording."""


class RelayLimits(TypedDict):
    max_frame: int
    max_input: int
    chat_length: int
    chat_rate: int
    chat_window: float
    clients_per_session: int


class RelayHello(TypedDict):
    """The answer to ``hello``: who the relay is, its limits, the SSH challenge's nonce."""

    type: Literal["hello"]
    version: int
    relay: str
    nonce: str
    limits: RelayLimits


class Authenticated(TypedDict):
    """``session`` is ``None`` for a relay-wide credential; keep ``token`` for reconnects."""

    type: Literal["authenticated"]
    user: str
    role: str
    session: str | None
    token: str
    expires_at: float


class SessionSummary(TypedDict):
    id: str
    target: str
    owner: str
    opened_at: float
    reason: str
    participants: int
    driver: str | None


class TargetSummary(TypedDict):
    name: str
    description: str


class Sessions(TypedDict):
    type: Literal["sessions"]
    sessions: list[SessionSummary]
    targets: list[TargetSummary]


class Recordings(TypedDict):
    type: Literal["recordings"]
    recordings: list[Record]


class RecordingChunk(TypedDict):
    type: Literal["recording_chunk"]
    name: str
    offset: int
    size: int
    data: str
    eof: bool


class Opened(TypedDict):
    type: Literal["opened"]
    session: str


class WelcomeSession(TypedDict):
    type: Literal["welcome_session"]
    you: str
    role: str
    recording: bool


class PtySize(TypedDict):
    cols: int
    rows: int


class ParticipantSummary(TypedDict):
    id: str
    user: str
    role: str
    joined_at: float
    expires_at: float | None
    invited_by: str | None
    away: bool


class RequestSummary(TypedDict):
    id: str
    reason: str
    at: float


class Roster(TypedDict):
    """Everything a client shows about the room, sent to everyone after every change."""

    type: Literal["roster"]
    session: str
    target: str
    owner: str
    state: str
    recording: bool
    pty: PtySize
    paused: str | None
    four_eyes: int
    driver: str | None
    control_expires_at: float | None
    participants: list[ParticipantSummary]
    requests: list[RequestSummary]


class Notice(TypedDict):
    type: Literal["notice"]
    text: str
    t: float


class ControlRequested(TypedDict):
    """``control_request``: someone asks for control (to leads and the driver)."""

    type: Literal["control_request"]
    id: str
    user: str
    reason: str


class ControlDenied(TypedDict):
    type: Literal["control_denied"]
    by: str
    reason: str


class ChatLine(TypedDict):
    """``chat``: a line someone said, cleaned and masked."""

    type: Literal["chat"]
    id: str
    user: str
    text: str
    t: float


class Ended(TypedDict):
    type: Literal["ended"]
    reason: str
    exit_status: NotRequired[int | None]
    by: NotRequired[str]


class EndedExtra(TypedDict, total=False):
    """What an ``ended`` may add: the shell's ``exit_status``, or who ended it (``by``)."""

    exit_status: int | None
    by: str


class ControlExpired(TypedDict):
    type: Literal["control_expired"]
    message: str


class AccessGranted(TypedDict):
    type: Literal["access_granted"]
    grant: Record


class AccessRevoked(TypedDict):
    """To the user: ``by`` and the ids of the ``grants``; to the lead who revoked: the
    grants, how many ``tokens`` were voided and the ``invites`` closed."""

    type: Literal["access_revoked"]
    grants: list[Record] | list[str]
    by: NotRequired[str]
    tokens: NotRequired[int]
    invites: NotRequired[list[str]]


class AccessRequestNotice(TypedDict):
    """``access_request``: someone asks for access (to relay-wide leads)."""

    type: Literal["access_request"]
    request: Record


class AccessRequested(TypedDict):
    type: Literal["access_requested"]
    request: Record


class AccessDecided(TypedDict):
    type: Literal["access_decided"]
    id: str
    grant: Record | None


class AccessDecision(TypedDict):
    type: Literal["access_decision"]
    id: str
    approved: bool
    by: str
    reason: str
    grant: Record | None


class AccessRequestClosed(TypedDict):
    type: Literal["access_request_closed"]
    id: str
    approved: bool
    by: str


class AccessExpired(TypedDict):
    type: Literal["access_expired"]
    grant: Record


class AccessListing(TypedDict):
    """``access``: grants and pending requests; for relay-wide leads, live invites too."""

    type: Literal["access"]
    grants: list[Record]
    requests: list[Record]
    invites: NotRequired[list[Record]]


class InviteMade(TypedDict):
    """``invite``: a new invite's link, its id and limits."""

    type: Literal["invite"]
    url: str
    id: str
    uses: int | None
    expires_at: float


class InviteRevoked(TypedDict):
    type: Literal["invite_revoked"]
    id: str
    tokens: int


class Error(TypedDict):
    """Every refusal; ``ref`` names the message type refused, when known."""

    type: Literal["error"]
    code: str
    message: str
    ref: NotRequired[str | None]


AccessReply = (
    AccessGranted
    | AccessRevoked
    | AccessRequested
    | AccessDecided
    | AccessListing
    | InviteMade
    | InviteRevoked
)
"""What the relay answers an access message with."""

RelayMessage = (
    RelayHello
    | Authenticated
    | Sessions
    | Recordings
    | RecordingChunk
    | Opened
    | WelcomeSession
    | Roster
    | Notice
    | ControlRequested
    | ControlDenied
    | ChatLine
    | Ended
    | ControlExpired
    | AccessGranted
    | AccessRevoked
    | AccessRequestNotice
    | AccessRequested
    | AccessDecided
    | AccessDecision
    | AccessRequestClosed
    | AccessExpired
    | AccessListing
    | InviteMade
    | InviteRevoked
    | Error
)
"""Any message the relay sends, told apart by ``type``."""

RELAY_MESSAGES: tuple[type[Any], ...] = get_args(RelayMessage)
