"""Medians, spreads and ratios of repeated measurements, and how they are written in the tables."""
from __future__ import annotations

import statistics


def values(runs: list[dict], key: str) -> list[float]:
    out = []
    for run in runs:
        value = run
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(float(value))
    return out


def median(runs: list[dict], key: str) -> float | None:
    vals = values(runs, key)
    return statistics.median(vals) if vals else None


def cell(runs: list[dict] | None, key: str, unit: str = "s", digits: int = 2, scale: float = 1.0) -> str:
    """'median unit (min–max, n=N)'; the spread is left out for a single run."""
    if runs is None:
        return "n/a"
    vals = [v * scale for v in values(runs, key)]
    if not vals:
        return "none"
    fmt = f"{{:.{digits}f}}"
    text = fmt.format(statistics.median(vals)) + (f" {unit}" if unit else "")
    if len(vals) > 1:
        text += f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})"
    return text


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    if b == 0:
        return "n/a" if a == 0 else "∞"
    r = a / b
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"
