"""Secret masking for a shared shell: what viewers and the recording may see."""

from __future__ import annotations

from relay.masking.stream import (
    DEFAULT_MAX_HOLDBACK,
    DEFAULT_PATTERNS,
    DEFAULT_PROMPT,
    SECRET_INPUT,
    InputGuard,
    Masking,
    OutputMasker,
    PatternError,
    SecretPattern,
    mask_text,
    parse_patterns,
)

__all__ = [
    "DEFAULT_MAX_HOLDBACK",
    "DEFAULT_PATTERNS",
    "DEFAULT_PROMPT",
    "SECRET_INPUT",
    "InputGuard",
    "Masking",
    "OutputMasker",
    "PatternError",
    "SecretPattern",
    "mask_text",
    "parse_patterns",
]
