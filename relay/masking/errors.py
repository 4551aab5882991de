"""The error a secret pattern from the config raises."""

from __future__ import annotations

from relay.core.errors import WarroomError


class PatternError(WarroomError, ValueError):
    """A secret pattern is unusable; ``where`` names the config entry and field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message
