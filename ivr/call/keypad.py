"""DTMF collection as a pure state machine: keys and stream time in, what to do out."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.dialog import Listen

HASH_GRACE_S = 2.0
"""A ``#`` this soon after an entry completed by its length just says "done"."""


@dataclass(frozen=True, slots=True)
class KeyResult:
    """``barge``: stop our audio (the caller answered by key). ``submit``: the entry is complete
    (may be empty: a lone finish key)."""

    barge: bool = False
    submit: str | None = None


IGNORED = KeyResult()


class Keypad:
    def __init__(self) -> None:
        self.digits = ""
        self._last_at = 0.0
        self._early: list[str] = []
        self._full_entry_at: float | None = None  # when an entry completed by its length

    def press(self, digit: str, now: float, listen: Listen | None, waiting: bool) -> KeyResult:
        """A key at stream time ``now``. ``listen``: what the bot waits for (None while it is
        still talking or thinking); ``waiting``: the bot is busy or playing, so keys typed ahead
        are kept for the next Listen."""
        if (digit == "#" and self._full_entry_at is not None
                and now - self._full_entry_at < HASH_GRACE_S):
            # "123456#" where 6 digits already completed the entry: the # just says "done".
            self._full_entry_at = None
            return IGNORED
        if listen is None:
            if waiting:
                self._early.append(digit)
            return IGNORED
        if listen.dtmf_max_digits > 1 and digit == listen.dtmf_finish_key:
            return KeyResult(True, self._take())
        self.digits += digit
        self._last_at = now
        if len(self.digits) >= listen.dtmf_max_digits:
            if listen.dtmf_max_digits > 1:
                self._full_entry_at = now
            return KeyResult(True, self._take())
        return KeyResult(True)

    def due(self, now: float, listen: Listen) -> str | None:
        """The entry so far, when the caller stopped keying for the inter-digit time."""
        if self.digits and now - self._last_at >= listen.dtmf_inter_digit_s:
            return self._take()
        return None

    def new_listen(self) -> list[str]:
        """A new Listen starts a fresh entry; returns the keys typed ahead, to replay."""
        self.digits = ""
        early, self._early = self._early, []
        return early

    def _take(self) -> str:
        digits, self.digits = self.digits, ""
        return digits
