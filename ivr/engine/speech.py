"""Turning slot values and templates into text for the TTS.

Numbers a caller must check ("I heard 4 5 6 7") are read one digit at a time: a TTS voice says
"4567" as "four thousand five hundred...", which nobody can compare to what they typed.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date
from typing import Any

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def spoken(value: Any, slot_type: str = "text") -> str:
    """A slot value as it should be spoken."""
    if value is None:
        return ""
    if slot_type == "digits":
        return " ".join(str(value))
    if slot_type == "yes_no" or isinstance(value, bool):
        return "yes" if value else "no"
    if slot_type == "date":
        try:
            d = date.fromisoformat(str(value))
        except ValueError:
            return str(value)
        return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"
    if slot_type == "amount":
        return f"{float(value):.2f}"
    if slot_type == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def has_fields(template: str) -> bool:
    """True when ``template`` has ``{placeholders}`` (so it is per-call, not cacheable)."""
    return any(f is not None for _, f, _, _ in string.Formatter().parse(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` fields; a missing value is spoken as nothing rather than crashing."""
    out = []
    for literal, f, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if f is not None:
            out.append(values.get(f, ""))
    return " ".join("".join(out).split())
