"""PII redaction at the source: card numbers, PINs/CVVs, SSNs and IBANs never reach a sink in clear.

Detectors run where words and keys are captured (engine transcript, session record, recordings), so
every sink (record, JSONL log, ticket, TwiML, whisper, screen-pop, fixture) only sees the masked
form. Only the custom action that needs a clear value gets it, in memory, from the engine's slots.

Card numbers are recognised by the Luhn checksum (``stdnum.luhn``) on 13-19 digit runs, IBANs by
``stdnum.iban``; PINs/CVVs by context (the caller or the bot's question says "PIN", "CVV",
"security code"...); SSNs by their 3-2-4 shape. Digits may be spoken as words ("four one one one").
A masked card keeps its last four digits (what PCI DSS allows to show), nothing else keeps any.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stdnum import iban as _iban
from stdnum import luhn as _luhn

_WORD_DIGITS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3",
                "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
                "nine": "9"}  # fmt: skip
_TOKEN = re.compile(r"\d+|[A-Za-z']+|[^\sA-Za-z\d]")
_SEPARATOR = re.compile(r"[-,./]")
_CONTEXT = re.compile(
    r"\b(pin|pins|passcode|pass code|cvv|cvc|cv2|security (code|number)|verification code|"
    r"access code|password)\b",
    re.IGNORECASE,
)
_SSN_CONTEXT = re.compile(r"\b(social security|ssn|social)\b", re.IGNORECASE)
_SSN_SHAPE = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IBAN_SHAPE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
                         re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Redacted:
    """A text with its sensitive parts masked, and the kinds that were masked (never the values)."""

    text: str
    kinds: tuple[str, ...] = ()


def card_mask(digits: str) -> str:
    return f"[card number ending {digits[-4:]}]"


def mask_for(kind: str, digits: str = "") -> str:
    """The placeholder a value of ``kind`` is replaced with in every stored artefact."""
    if kind == "card_number" and len(digits) >= 13:
        return card_mask(digits)
    return f"[{kind}]"


def partial(value: Any) -> str:
    """How a sensitive slot is read back to the caller: "ending in 4 2 4 2", never in full."""
    digits = re.sub(r"\D", "", str(value))
    if len(digits) >= 8:
        return "ending in " + " ".join(digits[-4:])
    return f"of {len(digits)} digits" if digits else "you gave"


def _digit_runs(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) for each run of digit tokens (figures or digit words) in ``text``."""
    runs: list[tuple[int, int, str]] = []
    start = end = -1
    acc = ""
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        low = tok.lower()
        if tok.isdigit() or (low in _WORD_DIGITS and (acc or low not in ("o", "for"))):
            if not acc:
                start = m.start()
            acc += tok if tok.isdigit() else _WORD_DIGITS[low]
            end = m.end()
        elif acc and _SEPARATOR.fullmatch(tok):
            continue
        else:
            if acc:
                runs.append((start, end, acc))
            acc = ""
    if acc:
        runs.append((start, end, acc))
    return runs


def _classify(digits: str, before: str, hint: str) -> str | None:
    n = len(digits)
    if 13 <= n <= 19 and _luhn.is_valid(digits):
        return "card_number"
    window = before[-40:]
    if 3 <= n <= 8 and (_CONTEXT.search(window) or _CONTEXT.search(hint)):
        return "pin" if not re.search(r"cvv|cvc|cv2|security", window + " " + hint, re.I) \
            else "cvv"
    if n == 9 and (_SSN_CONTEXT.search(window) or _SSN_CONTEXT.search(hint)):
        return "ssn"
    return None


def redact_text(text: str, hint: str = "") -> Redacted:
    """Mask card numbers, PINs/CVVs (in context), SSNs and IBANs in free speech.

    ``hint`` is what the bot just asked ("Please say your PIN"): it makes "four four two one"
    a PIN although the caller never said the word.
    """
    kinds: list[str] = []
    out = text
    for m in reversed(list(_IBAN_SHAPE.finditer(out))):
        if _iban.is_valid(m.group(0)):
            out = out[: m.start()] + mask_for("iban") + out[m.end():]
            kinds.append("iban")
    for m in reversed(list(_SSN_SHAPE.finditer(out))):
        out = out[: m.start()] + mask_for("ssn") + out[m.end():]
        kinds.append("ssn")
    for start, end, digits in reversed(_digit_runs(out)):
        kind = _classify(digits, out[:start], hint)
        if kind is not None:
            out = out[:start] + mask_for(kind, digits) + out[end:]
            kinds.append(kind)
    return Redacted(out, tuple(dict.fromkeys(reversed(kinds))))


def redact_keys(digits: str, sensitive: str | None = None, hint: str = "") -> Redacted:
    """Mask keyed digits: all of them for a sensitive entry (``sensitive`` = the slot's kind),
    else by the same detectors as speech (a card number keyed into an order-number prompt)."""
    core = digits.rstrip("#*")
    if sensitive and len(core) > 1:  # one key is a menu/yes-no answer, never a secret
        kind = "card_number" if _looks_like_card(core) else sensitive
        return Redacted(mask_for(kind, core), (kind,))
    found = _classify(core, "", hint) if core.isdigit() else None
    if found is None:
        return Redacted(digits)
    return Redacted(mask_for(found, core), (found,))


def redact_sensitive(text: str, kind: str) -> Redacted:
    """A caller turn answering a sensitive slot's question (or its read-back): when it holds any
    digits, nothing of it is kept but a mask."""
    digits = "".join(d for _, _, d in _digit_runs(text))
    if not digits:  # "yes, that's right" to a read-back: nothing secret in it
        return redact_text(text)
    kind = "card_number" if _looks_like_card(digits) else kind
    return Redacted(mask_for(kind, digits), (kind,))


def _looks_like_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits.isdigit() and _luhn.is_valid(digits)


def scrub(obj: Any, hint: str = "") -> Any:
    """A JSON-like value with every string passed through :func:`redact_text` (a backstop for
    sinks fed from several places, e.g. a ticket or the Task attributes)."""
    if isinstance(obj, str):
        return redact_text(obj, hint).text
    if isinstance(obj, Mapping):
        return {k: scrub(v, hint) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub(v, hint) for v in obj]
    return obj


def redact_caller(text: str, kind: str, sensitive: str = "", hint: str = "") -> str:
    """The form of a caller turn every record keeps (the session's record, fixtures' metadata):
    keys or words of a sensitive entry masked whole, anything else through the detectors."""
    if kind == "dtmf":
        return redact_keys(text, sensitive or None, hint).text
    if sensitive:
        return redact_sensitive(text, sensitive).text
    return redact_text(text, hint).text


class RedactingFilter(logging.Filter):
    """A backstop on log handlers: a card number, IBAN or SSN that reached a log line anyway
    (an exception message quoting a value) is masked before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        red = redact_text(message)
        if red.kinds:
            record.msg, record.args = red.text, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text).text
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
