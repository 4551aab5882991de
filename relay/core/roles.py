"""The roles a participant can hold; the relay alone assigns them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a participant may do.

    ``driver`` is not a role one is given: it is the state of the single
    participant who currently types, decided by the session core.
    """

    LEAD = "lead"
    VIEWER = "viewer"
    REVIEWER = "reviewer"

    @classmethod
    def parse(cls, value: str) -> Role:
        """Return the role named ``value`` or raise ``ValueError`` listing the valid names."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {value!r} (expected one of: {names})") from None
