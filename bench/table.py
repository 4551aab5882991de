"""The bench's one table: a row per measurement, with its baseline, ratio and verdict."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

COLUMNS = ("#", "benchmark", "warroom", "baseline", "ratio", "target", "result")


@dataclass
class Row:
    number: str
    name: str
    value: str
    baseline: str
    ratio: str
    target: str
    result: str
    note: str = ""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ratio_row(
    number: str,
    name: str,
    value: float,
    baseline: float,
    unit: str,
    minimum: float,
    note: str = "",
) -> Row:
    """A row whose target is ``value / baseline >= minimum``."""
    ratio = value / baseline if baseline else float("nan")
    ok = ratio >= minimum
    return Row(
        number,
        name,
        f"{value:.1f} {unit}",
        f"{baseline:.1f} {unit}",
        f"{ratio:.2f}x",
        f">= {minimum:g}x",
        "pass" if ok else f"GAP {minimum - ratio:.2f}x",
        note,
    )


def failed_row(number: str, name: str, error: BaseException) -> Row:
    return Row(number, name, "-", "-", "-", "-", "ERROR", f"{type(error).__name__}: {error}")


def render(rows: Sequence[Row]) -> str:
    cells = [COLUMNS] + [
        (r.number, r.name, r.value, r.baseline, r.ratio, r.target, r.result) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells[1:]]
    notes = [f"{r.number} {r.name}: {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(out)
