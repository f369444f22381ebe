"""Caller profiles (the operator's customer directory) and call history (our own records).

Numbers are normalised to E.164 with ``phonenumbers`` at every edge (CSV import, Twilio's
``From``), so "+1 (555) 555-0100" in a spreadsheet and "+15555550100" from Twilio are one caller.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import phonenumbers


def normalise_number(raw: str, region: str = "US") -> str | None:
    """E.164 form of ``raw`` ("+15555550100"), or None when it is not a possible number
    (withheld caller ID arrives as "anonymous", "+266696687" or empty)."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class Profile:
    """One customer as the directory knows them. ``verified`` is False for a profile found by
    caller ID alone: such values may route the call but are never read out to the caller."""

    number: str
    name: str = ""
    tier: str = "standard"
    language: str = ""
    segments: tuple[str, ...] = ()
    open_tickets: tuple[str, ...] = ()
    account: str = ""
    verified: bool = False

    def field_value(self, key: str) -> str:
        return {"name": self.name, "tier": self.tier, "language": self.language}.get(key, "")


class Directory(Protocol):
    """Where profiles come from (a database table, a CRM behind a custom action)."""

    def lookup(self, number: str) -> Profile | None: ...


class MemoryDirectory:
    """A directory held in memory (tests, and the cache in front of a slower one)."""

    def __init__(self, profiles: Iterable[Profile] = ()) -> None:
        self._by_number = {p.number: p for p in profiles}

    def lookup(self, number: str) -> Profile | None:
        return self._by_number.get(number)

    def add(self, profile: Profile) -> None:
        self._by_number[profile.number] = profile

    def by_account(self, account: str) -> Profile | None:
        return next((p for p in self._by_number.values() if account and p.account == account),
                    None)

    def __len__(self) -> int:
        return len(self._by_number)


CSV_COLUMNS = ("number", "name", "tier", "language", "segments", "open_tickets", "account")


class DirectoryFileError(ValueError):
    """A customer file that cannot be imported, with FILE:LINE for each bad row."""


def read_customers_csv(path: str | Path, region: str = "US") -> list[Profile]:
    """Profiles from a CSV with a header row (``number`` required; ``segments`` and
    ``open_tickets`` are ``;``-separated). Every bad row is reported, none is skipped."""
    path = Path(path)
    problems: list[str] = []
    out: list[Profile] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        unknown = [c for c in (reader.fieldnames or []) if c not in CSV_COLUMNS]
        if "number" not in (reader.fieldnames or []) or unknown:
            raise DirectoryFileError(
                f"{path}:1: columns must be {', '.join(CSV_COLUMNS)} with number required"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        for row in reader:
            line = reader.line_num
            number = normalise_number(row.get("number") or "", region)
            if number is None:
                problems.append(f"{path}:{line}: {row.get('number')!r} is not a phone number")
                continue
            out.append(
                Profile(
                    number=number,
                    name=(row.get("name") or "").strip(),
                    tier=(row.get("tier") or "standard").strip() or "standard",
                    language=(row.get("language") or "").strip(),
                    segments=_split(row.get("segments")),
                    open_tickets=_split(row.get("open_tickets")),
                    account=(row.get("account") or "").strip(),
                )
            )
    if problems:
        raise DirectoryFileError("\n".join(problems))
    return out


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(";") if p.strip())


# --- history ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PastCall:
    """What one earlier call was about and how the bot part ended (``transfer: billing``,
    ``hangup`` = resolved in the bot, ``caller_hangup``)."""

    number: str
    intent: str
    outcome: str
    at: float
    call_sid: str = ""


class History(Protocol):
    def add(self, call: PastCall) -> None: ...

    def since(self, number: str, t: float) -> list[PastCall]: ...


@dataclass
class MemoryHistory:
    """Recent calls per number, in memory (bounded per number)."""

    per_number: int = 50
    _calls: dict[str, list[PastCall]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: PastCall) -> None:
        with self._lock:
            calls = self._calls.setdefault(call.number, [])
            calls.append(call)
            del calls[: -self.per_number]

    def since(self, number: str, t: float) -> list[PastCall]:
        with self._lock:
            return [c for c in self._calls.get(number, ()) if c.at >= t]

    def __iter__(self) -> Iterator[PastCall]:
        with self._lock:
            return iter([c for calls in self._calls.values() for c in calls])


def is_repeat(history: History, number: str | None, intent: str | None, now: float,
              days: int, this_call: str = "") -> bool:
    """Called about ``intent`` within ``days`` before (``this_call`` itself not counted), and
    the bot did not resolve it then."""
    if not number or not intent:
        return False
    return any(
        c.intent == intent and c.outcome != "hangup" and (not this_call or c.call_sid != this_call)
        for c in history.since(number, now - days * 86400.0)
    )


def last_unresolved(history: History, number: str | None, now: float, days: int,
                    this_call: str = "") -> str | None:
    """The intent of the caller's most recent earlier call the bot did not resolve."""
    if not number:
        return None
    calls = [c for c in history.since(number, now - days * 86400.0)
             if c.intent and c.outcome != "hangup" and (not this_call or c.call_sid != this_call)]
    return max(calls, key=lambda c: c.at).intent if calls else None


class MergedHistory:
    """Several histories read as one (e.g. recent transfers in Redis + finished calls in the
    records database); ``add`` goes to the first. A call found in both counts once."""

    def __init__(self, *sources: History) -> None:
        self.sources = sources

    def add(self, call: PastCall) -> None:
        self.sources[0].add(call)

    def since(self, number: str, t: float) -> list[PastCall]:
        seen: set[str] = set()
        out: list[PastCall] = []
        for src in self.sources:
            for c in src.since(number, t):
                if c.call_sid and c.call_sid in seen:
                    continue
                seen.add(c.call_sid)
                out.append(c)
        return out
