"""Slot values from ASR text: digits, yes/no, dates, amounts, numbers, and caller frustration.

Whisper writes the same utterance many ways ("4 5 6", "four five six", "456.", "Four, five,
six."), so every parser first normalises case and punctuation and accepts both digits and words.
All functions are pure and return None when they cannot tell: the dialplan then re-prompts
rather than acting on a guess.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

_UNITS = {
    "zero": 0, "oh": 0, "o": 0, "nought": 0, "naught": 0, "nil": 0, "one": 1, "two": 2,
    "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_REPEAT = {"double": 2, "triple": 3}
#: Words ASR hears for digits: homophones included ("to"/"too" -> 2, "for" -> 4, "won" -> 1).
_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "naught": "0", "nil": "0",
    "one": "1", "won": "1", "two": "2", "to": "2", "too": "2", "three": "3", "four": "4",
    "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "ate": "8", "nine": "9",
}  # fmt: skip
_FILLERS = frozenset((
    "uh", "um", "umm", "er", "erm", "ah", "hmm", "and", "it's", "its", "is", "it", "my", "the",
    "number", "a", "an", "please", "okay", "ok", "so", "yes", "yeah", "well", "that's"
))  # fmt: skip


def _tokens(text: str) -> list[str]:
    """Lower-case word/number tokens; keeps decimals ("25.50") and digit groups."""
    text = text.lower().replace("\u2019", "'")
    return re.findall(r"\d+(?:[.,]\d+)*|[a-z]+(?:'[a-z]+)?", text)


def _words_to_int(tokens: list[str]) -> int | None:
    """ "four hundred fifty six" -> 456; "a hundred and twenty" -> 120. None if not a number."""
    total = current = 0
    seen = False
    for tok in tokens:
        if tok in ("and", "a") and (seen or tok == "a"):
            continue
        if tok.isdigit():
            current += int(tok)
        elif tok in _UNITS:
            current += _UNITS[tok]
        elif tok in _TENS:
            current += _TENS[tok]
        elif tok == "hundred":
            current = max(current, 1) * 100
        elif tok in ("thousand", "million"):
            total += max(current, 1) * _SCALES[tok]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _number_groups(tokens: list[str]) -> list[list[str]]:
    """Split a run of number words into numbers: "twenty one twelve" -> [twenty one], [twelve].

    A new number starts where English would not continue the current one: a unit or teen after
    a unit or teen, or a tens word after anything but a scale word.
    """
    groups: list[list[str]] = []
    last = ""
    for tok in tokens:
        if tok == "and":
            if groups:
                groups[-1].append(tok)
            continue
        if tok in _SCALES:
            kind = "scale"
        elif tok in _TENS:
            kind = "tens"
        else:
            kind = "unit"
        new = (
            not groups
            or (kind == "unit" and last == "unit")
            or (kind == "tens" and last != "scale")
        )
        if new:
            groups.append([tok])
        else:
            groups[-1].append(tok)
        last = kind
    return groups


_DENIALS = frozenset(("no", "nope", "nah", "wrong", "incorrect", "actually", "sorry"))


def parse_digits(text: str) -> str | None:
    """A digit string: "four five six" / "4 5 6" / "4-5-6" / "double two" / "oh" -> digits.

    Also reads "triple seven", "nought", number words with scales ("four hundred fifty six"
    -> "456") when that is all the caller said. None when no digit was heard or when other,
    non-filler words are mixed in (that is not a digit string).
    """
    toks = _tokens(text.replace("-", " "))
    # A correction after a read-back: "no, it's 4 5 6 8" / "nope, four five six eight".
    while toks and toks[0] in _DENIALS:
        toks = toks[1:]
    out: list[str] = []
    repeat = 1
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok in _REPEAT:
            repeat = _REPEAT[tok]
        elif tok.isdigit():
            out.append(tok[0] * repeat + tok[1:])
            repeat = 1
        elif tok in _TENS or tok in _SCALES or (tok in _UNITS and _UNITS[tok] >= 10):
            # Spoken numbers inside the string ("fifty six", "four hundred", "twenty one
            # twelve"): read each number whole; a scale word takes the digit said before it.
            j = i
            while j < len(toks) and (
                toks[j] in _UNITS or toks[j] in _TENS or toks[j] in _SCALES or toks[j] == "and"
            ):
                j += 1
            start = i - 1 if i > 0 and toks[i - 1] in _UNITS and tok in _SCALES else i
            if start < i and out:
                out.pop()
            for group in _number_groups(toks[start:j]):
                value = _words_to_int(group)
                if value is None:
                    return None
                out.append(str(value))
            i = j
            repeat = 1
            continue
        elif tok in _DIGIT_WORDS and (tok not in ("to", "too", "for", "ate", "won", "o") or out):
            out.append(_DIGIT_WORDS[tok] * repeat)
            repeat = 1
        elif tok in _FILLERS or tok in ("dash", "hyphen", "space", "point"):
            pass
        else:
            return None
        i += 1
    digits = "".join(out)
    return digits or None


_YES = (
    "yes", "yeah", "yea", "yep", "yup", "ya", "sure", "correct", "right", "affirmative", "ok",
    "okay", "absolutely", "definitely", "certainly", "indeed", "exactly", "true", "please",
    "alright", "aye", "uh-huh", "mhm",
)  # fmt: skip
_YES_PHRASES = (
    "that's right", "that is right", "that's correct", "that is correct", "of course",
    "go ahead", "sounds good", "i do", "it is", "i am", "please do", "why not", "uh huh",
    "mm hmm",
)  # fmt: skip
_NO = ("no", "nope", "nah", "negative", "incorrect", "wrong", "never", "not")
_NO_PHRASES = (
    "not really", "no it isn't", "it isn't", "it's not", "that's not", "that is not",
    "i don't", "i do not", "don't", "do not", "isn't", "wasn't", "not right", "not correct",
    "no thanks", "no thank you", "i'm not", "i am not", "not at all",
)  # fmt: skip


def parse_yes_no(text: str) -> bool | None:
    """True for yes-like answers, False for no-like, None when unclear.

    Negation wins: "that's not right", "no, it isn't", "yeah no" are all False, because acting
    on a false "yes" (a payment, a cancellation) costs more than asking again.
    """
    t = " " + " ".join(_tokens(text)) + " "
    if not t.strip():
        return None
    if any(f" {p} " in t for p in _NO_PHRASES) or any(f" {w} " in t for w in _NO):
        return False
    if any(f" {p} " in t for p in _YES_PHRASES) or any(f" {w} " in t for w in _YES):
        return True
    return None


def parse_number(text: str) -> int | None:
    """An integer from digits or words: "42", "forty two", "a hundred and twenty", "1,200"."""
    toks = [t for t in _tokens(text) if t not in _FILLERS or t in ("a", "and")]
    for tok in toks:
        if re.fullmatch(r"\d{1,3}(,\d{3})+|\d+", tok):
            return int(tok.replace(",", ""))
    span: list[str] = []
    for tok in toks + ["<end>"]:
        if (
            tok in _UNITS
            or tok in _TENS
            or tok in _SCALES
            or (span and tok in ("and", "a"))
            or tok == "a"
            and not span
        ):
            span.append(tok)
        elif span:
            while span and span[-1] in ("and", "a"):
                span.pop()
            value = _words_to_int(span) if span else None
            if value is not None:
                return value
            span = []
    return None


_CURRENCY_WORDS = ("dollar", "dollars", "buck", "bucks", "usd", "pound", "pounds", "euro", "euros")
_CENT_WORDS = ("cent", "cents", "pence", "p")


def parse_amount(text: str) -> Decimal | None:
    """A money amount: "$25.50", "25 dollars 50", "twenty five dollars and fifty cents",
    "a hundred and twenty". None if no amount is found."""
    clean = text.lower().replace(",", "")
    m = re.search(r"[$£€]\s*(\d+(?:\.\d{1,2})?)", clean) or re.search(
        r"(\d+(?:\.\d{1,2})?)\s*(?:dollars?|bucks?|usd|pounds?|euros?)\b", clean
    )
    if m is None:
        m = re.search(r"\b(\d+\.\d{1,2})\b", clean)
    if m is not None:
        try:
            value = Decimal(m.group(1))
        except InvalidOperation:
            return None
        cents_m = re.search(r"(?:and\s+)?(\d{1,2})\s*(?:cents?|pence)\b", clean[m.end() :])
        if cents_m and "." not in m.group(1):
            value += Decimal(cents_m.group(1)) / 100
        return value.quantize(Decimal("0.01"))
    toks = _tokens(clean)
    if any(t in _CURRENCY_WORDS for t in toks):
        idx = next(i for i, t in enumerate(toks) if t in _CURRENCY_WORDS)
        whole = parse_number(" ".join(toks[:idx]))
        rest = toks[idx + 1 :]
        cent_idx = next((i for i, t in enumerate(rest) if t in _CENT_WORDS), None)
        cents = parse_number(" ".join(rest[:cent_idx])) if cent_idx is not None else None
        if cents is None and rest:
            cents = parse_number(" ".join(rest))
        if whole is None and cents is None:
            return None
        value = Decimal(whole or 0) + Decimal(cents or 0) / 100
        return value.quantize(Decimal("0.01"))
    cent_idx = next((i for i, t in enumerate(toks) if t in ("cent", "cents", "pence")), None)
    if cent_idx is not None:
        cents = parse_number(" ".join(toks[:cent_idx]))
        return None if cents is None else (Decimal(cents) / 100).quantize(Decimal("0.01"))
    number = parse_number(clean)
    return None if number is None else Decimal(number).quantize(Decimal("0.01"))


_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip


def _day_number(toks: list[str]) -> int | None:
    """Day of month from "3rd", "3", "third", "twenty first", "thirty first"."""
    for i, tok in enumerate(toks):
        m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", tok)
        if m and 1 <= int(m.group(1)) <= 31:
            return int(m.group(1))
        if tok in ("twenty", "thirty") and i + 1 < len(toks) and toks[i + 1] in _ORDINALS:
            return _TENS[tok] + _ORDINALS[toks[i + 1]]
        if tok in _ORDINALS:
            return _ORDINALS[tok]
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str, today: date) -> date | None:
    """A calendar date relative to ``today``: "today", "tomorrow", "next friday", "march 3rd",
    "3/14", "the fifth", "in 3 days". Dates without a year are taken as the next such date."""
    t = text.lower()
    toks = re.findall(r"\d+(?:st|nd|rd|th)?|[a-z]+", t)
    if "day after tomorrow" in t:
        return today + timedelta(days=2)
    if "today" in toks or "tonight" in toks:
        return today
    if "tomorrow" in toks:
        return today + timedelta(days=1)
    if "yesterday" in toks:
        return today - timedelta(days=1)
    m = re.search(r"\bin\s+(\S+(?:\s\S+)?)\s+(days?|weeks?)\b", t)
    if m:
        n = parse_number(m.group(1))
        if n is not None:
            return today + timedelta(days=n * (7 if m.group(2).startswith("week") else 1))
    m = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", t)
    if m:
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", t)
    if m:  # US order, as Twilio numbers are mostly North American: month/day[/year].
        mm, dd = int(m.group(1)), int(m.group(2))
        if m.group(3):
            year = int(m.group(3))
            return _safe_date(year + 2000 if year < 100 else year, mm, dd)
        return _next_month_day(today, mm, dd)
    for i, tok in enumerate(toks):
        if tok in _WEEKDAYS:
            ahead = (_WEEKDAYS[tok] - today.weekday()) % 7
            if i > 0 and toks[i - 1] == "next" and ahead == 0:
                ahead = 7
            elif i > 0 and toks[i - 1] == "next" and "week" in toks:
                ahead += 7
            return today + timedelta(days=ahead or 0)
    for i, tok in enumerate(toks):
        if tok in _MONTHS and not (tok == "may" and i + 1 < len(toks) and toks[i + 1] == "i"):
            dom = _day_number(toks[i + 1 :]) or _day_number(toks[:i])
            if dom is None:
                continue
            year_m = re.search(r"\b(20\d{2})\b", t)
            if year_m:
                return _safe_date(int(year_m.group(1)), _MONTHS[tok], dom)
            return _next_month_day(today, _MONTHS[tok], dom)
    if "next" in toks and "week" in toks:
        return today + timedelta(days=7)
    day = _day_number(toks)
    if day is not None and ("the" in toks or any(tok in _ORDINALS for tok in toks)):
        # "the fifth": this month if still ahead, else next month.
        if day >= today.day:
            return _safe_date(today.year, today.month, day)
        month = today.month % 12 + 1
        return _safe_date(today.year + (month == 1), month, day)
    return None


def _next_month_day(today: date, month: int, day: int) -> date | None:
    """``month``/``day`` this year, or next year when that date has already passed."""
    this_year = _safe_date(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    return _safe_date(today.year + 1, month, day)
