"""Slot value parsing from speech, behind one small interface.

:mod:`ivr.nlu.entities` does the real work when installed; the compact fallbacks here keep the
engine usable (and its tests deterministic) without it. Either way the engine only sees
:class:`Entities`: digits as a string ("4567"), yes/no as bool, dates, amounts and numbers as
plain numbers, so slot values stay JSON-serialisable for the transfer context.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "to": "2",
    "too": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_REPEAT = {"double": 2, "triple": 3}
_TOKEN = re.compile(r"[a-z]+|\d+")


def fallback_digits(text: str) -> str | None:
    """ "four five six", "double two oh 7", "4 5 6" -> "456", "22007". None if no digits."""
    out: list[str] = []
    repeat = 1
    for tok in _TOKEN.findall(text.lower().replace("-", " ")):
        if tok in _REPEAT:
            repeat = _REPEAT[tok]
            continue
        if tok.isdigit():
            out.append(tok[0] * repeat + tok[1:])
        elif tok in _DIGIT_WORDS and (tok not in ("to", "too", "for", "o") or out):
            out.append(_DIGIT_WORDS[tok] * repeat)
        repeat = 1
    return "".join(out) or None


_YES = re.compile(
    r"\b(yes|yeah|yep|yup|correct|right|sure|ok|okay|affirmative|absolutely|"
    r"definitely|please do|that's it|it is)\b"
)
_NO = re.compile(
    r"\b(no|nope|nah|wrong|incorrect|negative|not right|not correct|isn't|"
    r"it's not|don't)\b"
)


def fallback_yes_no(text: str) -> bool | None:
    """The first yes-ish or no-ish phrase wins ("no, that's right" is no)."""
    t = text.lower()
    y, n = _YES.search(t), _NO.search(t)
    if y and n:
        return y.start() < n.start()
    if y:
        return True
    if n:
        return False
    return None


_UNITS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}


def fallback_number(text: str) -> float | None:
    """ "1,250.5", "two hundred and fifty", "twelve" -> number; None if none said."""
    t = text.lower().replace(",", "")
    m = re.search(r"-?\d+(\.\d+)?", t)
    if m:
        return float(m.group())
    total = current = 0
    seen = False
    for tok in _TOKEN.findall(t):
        if tok in _UNITS:
            current += _UNITS[tok]
        elif tok in _TENS:
            current += _TENS[tok]
        elif tok == "hundred":
            current = max(current, 1) * 100
        elif tok in _SCALES:
            total += max(current, 1) * _SCALES[tok]
            current = 0
        elif tok == "and" or tok == "a":
            continue
        else:
            if seen:
                break
            continue
        seen = True
    return float(total + current) if seen else None


def fallback_amount(text: str) -> float | None:
    """ "$12.50", "twelve dollars fifty", "12 pounds 30" -> 12.5 / 12.3."""
    t = text.lower()
    m = re.search(r"(\d+(?:\.\d{1,2})?)", t.replace(",", ""))
    if m:
        return float(m.group(1))
    parts = re.split(r"\b(?:dollars?|pounds?|euros?|bucks?)\b", t, maxsplit=1)
    whole = fallback_number(parts[0])
    if whole is None:
        return None
    cents = fallback_number(parts[1]) if len(parts) > 1 else None
    return whole + (cents or 0) / 100


_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_ORD = {
    w: i + 1
    for i, w in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
        ]
    )
}


def fallback_date(text: str, today: date) -> date | None:
    """ "today", "tomorrow", "2025-03-14", "March 14th", "the 14th of March 2025"."""
    t = text.lower()
    if "today" in t:
        return today
    if "tomorrow" in t:
        return today + timedelta(days=1)
    if "yesterday" in t:
        return today - timedelta(days=1)
    m = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", t)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    month = next(
        (i + 1 for i, name in enumerate(_MONTHS) if name in t or re.search(rf"\b{name[:3]}\b", t)),
        None,
    )
    if month is None:
        return None
    day = None
    m = re.search(r"\b(\d{1,2})(st|nd|rd|th)?\b", t)
    if m:
        day = int(m[1])
    else:
        t2 = t.replace("twenty ", "twenty-").replace("thirty ", "thirty-")
        for word, n in _ORD.items():
            if re.search(rf"\b{word}\b", t2):
                day = n
        m2 = re.search(r"\b(twenty|thirty)-(\w+)", t2)
        if m2 and m2[2] in _ORD:
            day = (20 if m2[1] == "twenty" else 30) + _ORD[m2[2]]
        elif re.search(r"\bthirtieth\b", t):
            day = 30
    y = re.search(r"\b(19|20)\d{2}\b", t)
    year = int(y.group()) if y else today.year
    if day is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


_NEGATIVE = re.compile(
    r"\b(useless|stupid|ridiculous|terrible|awful|hate|angry|furious|"
    r"worst|pathetic|idiot|rubbish|garbage|fed up|sick of|waste of time|"
    r"annoying|frustrat\w*|unacceptable|damn|bloody)\b"
)


def fallback_negative(text: str) -> bool:
    return bool(_NEGATIVE.search(text.lower()))


def _plain(v: Any) -> Any:
    """Decimals and the like -> float/int, so slot values stay JSON-serialisable."""
    if isinstance(v, Decimal):
        return float(v)
    return v


@dataclass(frozen=True)
class Entities:
    """The parsers the engine uses; build with :func:`default_entities`."""

    digits: Callable[[str], str | None] = fallback_digits
    yes_no: Callable[[str], bool | None] = fallback_yes_no
    date: Callable[[str, date], date | None] = fallback_date
    amount: Callable[[str], Any] = fallback_amount
    number: Callable[[str], Any] = fallback_number
    negative: Callable[[str], bool] = fallback_negative

    def parse_amount(self, text: str) -> float | None:
        v = _plain(self.amount(text))
        return None if v is None else float(v)

    def parse_number(self, text: str) -> float | None:
        v = _plain(self.number(text))
        return None if v is None else float(v)


def default_entities() -> Entities:
    """:mod:`ivr.nlu.entities` where installed, the fallbacks for anything it lacks."""
    try:
        nlu = importlib.import_module("ivr.nlu.entities")
    except ImportError:
        return Entities()
    return Entities(
        digits=getattr(nlu, "parse_digits", fallback_digits),
        yes_no=getattr(nlu, "parse_yes_no", fallback_yes_no),
        date=getattr(nlu, "parse_date", fallback_date),
        amount=getattr(nlu, "parse_amount", fallback_amount),
        number=getattr(nlu, "parse_number", fallback_number),
        negative=getattr(nlu, "sentiment_negative", fallback_negative),
    )
