"""Does the caller sound done? The end-of-turn verdict at a pause, from the words heard so far.

The session transcribes speculatively at a short pause (``EndpointConfig.pause_s``); this module
turns that transcript and what the bot is waiting for into one of three verdicts:

- ``END``: the words read as a finished turn (Whisper ended the sentence, and not on a word that
  usually continues): answer now instead of waiting out the full end-of-turn silence;
- ``HOLD``: the words are a fragment ("I got a bill for", "my number is 4 5 6" while six digits
  are expected): wait *longer* than the default silence, callers pause like this mid-turn;
- ``WAIT``: no evidence either way: the configured silence decides.

The completeness model (:mod:`ivr.call.completeness`, MiniLM + a logistic head) can call a
longer turn a fragment even when Whisper punctuated it as complete. An audio model (Smart Turn
v3.2) was weighed and not adopted: it comes only inside the ``pipecat-ai`` wheel and its 25
dependencies (README, Turn-taking).

Pure: text and numbers in, a verdict out (tests/test_call_endofturn.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ivr.vad import CONTINUATIONS, sounds_complete


class Verdict(Enum):
    END = "end"
    HOLD = "hold"
    WAIT = "wait"


_DIGIT_WORDS = frozenset(
    ("zero", "oh", "o", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
)
_WORD = re.compile(r"[a-z0-9']+")


def spoken_digits(text: str) -> int:
    """How many digits a transcript holds ("4 5 6", "456", "four five six" are all 3)."""
    n = 0
    for w in _WORD.findall(text.lower()):
        if w.isdigit():
            n += len(w)
        elif w in _DIGIT_WORDS:
            n += 1
    return n


def sounds_unfinished(text: str) -> bool:
    """A fragment: it trails off ("...", a comma) or stops on a word that continues."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith(("...", ",", "-")):
        return True
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] in CONTINUATIONS


@dataclass(frozen=True, slots=True)
class EndOfTurnPolicy:
    hold_s: float = 1.4
    """Silence that ends a turn judged unfinished (instead of ``EndpointConfig.end_silence_s``):
    the 300-900 ms pauses callers make mid-sentence and between digit groups fit inside it."""
    early: bool = True
    """End complete-sounding turns at the pause (False: only ever wait or hold)."""
    lengthen: bool = True
    """Hold on for fragments and unfinished numbers (False: the old rule, which could only
    shorten the wait; kept to measure the difference in bench/turntaking.py)."""
    model_hold_below: float = 0.25
    """Hold when the completeness model (ivr/call/completeness.py) scores a turn of at least
    ``model_min_words`` words below this, even if it reads complete: Whisper often finishes a
    fragment ("I got a bill for it."). 0 disables the model. On CLINC150 val, p < 0.2 holds
    52 % of fragments and 0.7 % of complete requests."""
    model_min_words: int = 4
    """Short answers ("Yes.", "Billing, please.") are rare in the training data and score low;
    the model only judges longer turns."""

    def needs_model(self, text: str, expect_digits: int = 1) -> bool:
        """Would :meth:`judge` read the completeness model's score for ``text``? The worker
        asks before running the model, so short answers, numbers and fragments the rules
        already decide cost no MiniLM pass on the way to the reply."""
        return (self.lengthen and self.model_hold_below > 0 and expect_digits <= 1
                and bool(text.strip()) and not sounds_unfinished(text)
                and len(_WORD.findall(text.lower())) >= self.model_min_words)

    def judge(self, text: str, expect_digits: int = 1, complete: float | None = None) -> Verdict:
        """``expect_digits``: the Listen's ``dtmf_max_digits`` (> 1: a number is being asked
        for, which callers say in groups with pauses). ``complete``: the completeness model's
        probability for ``text``, when it ran."""
        if not text.strip():
            return Verdict.WAIT
        if not self.lengthen:
            return Verdict.END if (self.early and expect_digits <= 1
                                   and sounds_complete(text)) else Verdict.WAIT
        if expect_digits > 1:
            got = spoken_digits(text)
            if got == 0:
                return Verdict.HOLD if sounds_unfinished(text) else Verdict.WAIT
            # A number with no fixed length (20 = the slot's ceiling) may always go on.
            if got < expect_digits:
                return Verdict.HOLD
            return Verdict.END if self.early else Verdict.WAIT
        if sounds_unfinished(text):
            return Verdict.HOLD
        if (complete is not None and complete < self.model_hold_below
                and len(_WORD.findall(text.lower())) >= self.model_min_words):
            return Verdict.HOLD
        if self.early and sounds_complete(text):
            return Verdict.END
        return Verdict.WAIT
