"""Slot values from keys or speech, and their validation: pure functions, one per concern.

Speech is parsed by :mod:`ivr.nlu.entities`. Values come out JSON-ready (digits as a string so
leading zeros survive, dates as ISO text, amounts as floats) because they travel to agents in the
transfer context and to action servers.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ivr.dialplan.models import SlotDef
from ivr.nlu.entities import parse_amount, parse_date, parse_digits, parse_number, parse_yes_no

YES_NO_KEYS = {"1": True, "2": False}


def keyed_date(keys: str, fmt: str) -> str | None:
    """Eight keys in the plan's keypad date format -> ISO date, or None."""
    if len(keys) != 8:
        return None
    y, m, d = {
        "DDMMYYYY": (keys[4:], keys[2:4], keys[:2]),
        "MMDDYYYY": (keys[4:], keys[:2], keys[2:4]),
        "YYYYMMDD": (keys[:4], keys[4:6], keys[6:]),
    }[fmt]
    try:
        return date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


def parse_keys(digits: str, sd: SlotDef, date_format: str) -> Any:
    """A keyed value: 1/2 for yes/no, star as the decimal point in amounts ("12*50")."""
    keys = digits.rstrip("#")
    if sd.type == "yes_no":
        return YES_NO_KEYS.get(keys)
    if sd.type == "amount" and keys:
        whole, _, cents = keys.partition("*")
        if whole.isdigit() and (not cents or cents.isdigit()):
            return float(f"{whole}.{cents or 0}")
        return None
    if not keys.isdigit():
        return None
    if sd.type == "digits":
        return keys
    if sd.type == "number":
        return int(keys)
    if sd.type == "date":
        return keyed_date(keys, date_format)
    return None


def parse_speech(text: str, sd: SlotDef, today: date) -> Any:
    """A spoken value ("four five six", "twelve dollars fifty", "next Tuesday"...)."""
    if sd.type == "digits":
        return parse_digits(text)
    if sd.type == "number":
        return parse_number(text)
    if sd.type == "amount":
        a = parse_amount(text)
        return None if a is None else float(a)
    if sd.type == "yes_no":
        return parse_yes_no(text)
    if sd.type == "date":
        d = parse_date(text, today)
        return d.isoformat() if d is not None else None
    return text.strip() or None


def is_valid(value: Any, sd: SlotDef) -> bool:
    """The slot's length/pattern (digits, text) or range (number, amount) rules."""
    if sd.type in ("digits", "text"):
        s = str(value)
        if sd.min_length is not None and len(s) < sd.min_length:
            return False
        if sd.max_length is not None and len(s) > sd.max_length:
            return False
        return not (sd.pattern and not re.fullmatch(sd.pattern, s))
    if sd.type in ("number", "amount"):
        v = float(value)
        return not ((sd.min is not None and v < sd.min) or (sd.max is not None and v > sd.max))
    return True
