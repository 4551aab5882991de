"""How ``warroom`` reads its command line: values checked where they are typed, errors in one line.

* :class:`Parser` prints a usage error as one line naming the verb and the
  argument (``warroom grant: argument --ttl: ...``), not argparse's usage
  block: the flag and what was wrong are all a person needs, and
  ``--help`` is one command away.
* :func:`duration` and :func:`since` are argparse ``type=`` converters, so a
  bad ``--ttl`` or ``--since`` is refused before anything connects, naming
  the flag.
* :func:`attach_negative_values` keeps ``--ttl -5m`` from being read as a
  missing value followed by an unknown option ``-5m``: it is a negative
  duration, and is refused as one.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

# Options whose value may look like an option (a negative duration).
VALUE_OPTIONS = frozenset({"--ttl", "--since"})
_LOOKS_NEGATIVE = re.compile(r"-\d")
DURATION_HINT = "a duration such as 90s, 30m, 8h or 2d"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    def verbs(self) -> dict[str, Verb]:
        """Each verb (``add_subparsers``) with its help line and its own parser: what
        ``warroom --help`` lists, so that a check can see every verb is explained."""
        found: dict[str, Verb] = {}
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, parser in action.choices.items():
                    found[name] = Verb(helps.get(name), parser)
        return found

    def arguments(self) -> list[tuple[str, str | None]]:
        """Each argument but ``--help``, named by its flags (or its name), with its
        help line: what ``--help`` shows of it."""
        return [
            ("/".join(action.option_strings) or action.dest, action.help)
            for action in self._actions
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        ]


class Verb(NamedTuple):
    """One verb of a :class:`Parser`: its help line in the list of verbs, its parser."""

    help: str | None
    parser: argparse.ArgumentParser


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """``["--ttl", "-5m"]`` → ``["--ttl=-5m"]``, so the value reaches :func:`duration`."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg in VALUE_OPTIONS and _LOOKS_NEGATIVE.match(following):
            out.append(f"{arg}={following}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def duration(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``8h``, ``2d`` or a plain number of seconds (> 0)."""
    from relay.config import parse_duration

    value = text.strip()
    if value.startswith("-"):
        raise argparse.ArgumentTypeError(f"{text} is negative: give {DURATION_HINT}")
    try:
        seconds = parse_duration(int(value) if value.isdigit() else value)
    except ValueError:
        if value.isdigit():
            raise argparse.ArgumentTypeError(
                f"{text} is no time at all: give {DURATION_HINT}"
            ) from None
        raise argparse.ArgumentTypeError(f"expected {DURATION_HINT}, got {text!r}") from None
    return seconds


def since(text: str) -> float:
    """A moment: how long ago (``2h``), a date or time (``2024-05-01T09:30``), or a unix time."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return time.time() - duration(value)
    except argparse.ArgumentTypeError:
        if value.startswith("-"):
            raise
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected how long ago (2h, 3d), a date or time (2024-05-01, "
            f"2024-05-01T09:30) or a unix time, got {text!r}"
        ) from None
    return moment.timestamp()  # a time without a zone is local time


def quiet_broken_pipe() -> int:
    """The reader of stdout went away (``| head``): that ends a pipe, it is no error.

    Point stdout at /dev/null so the interpreter's final flush cannot fail
    again, and exit 0 (the recipe in Python's ``signal`` documentation).
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0
