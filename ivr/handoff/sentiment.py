"""Is this caller upset? VADER scores each caller turn; evidence over turns decides frustration.

VADER (``vadersentiment``, Hutto & Gilbert 2014) is a maintained lexicon-and-rules model built for
short, informal text: it handles negation ("not helpful"), intensifiers ("really useless"), caps and
punctuation, runs in ~0.1 ms per turn on a CPU, needs no weights download and no torch.

One turn never decides (a misheard "Damn you" for "Can you" must not escalate): the rule fires on
:data:`UPSET_TURNS` upset caller turns, or on one upset turn after the bot already failed the
caller (no-match, no-input, invalid value). :data:`UPSET_THRESHOLD` is chosen by
``bench/sentiment.py`` on the MAIA-DQE train+val splits only (best F1 of "negative" there); the
test split is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

UPSET_THRESHOLD = -0.02
"""A caller turn whose VADER compound is at or below this is "upset" (bench/sentiment.py)."""
UPSET_TURNS = 2
MAX_EVIDENCE = 3


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def score(text: str) -> float:
    """VADER compound score of ``text``: -1 (very negative) .. 1 (very positive)."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


_BARE_ANSWER = re.compile(
    r"^(no|nope|nah|no thanks|no thank you|not really|not now|no sorry|sorry no)$", re.I)


def turn_score(text: str) -> float | None:
    """The score of a caller turn, or None for a bare "no" (an answer, not an emotion: VADER
    scores "no" at -0.3, and callers say it to every yes/no question)."""
    if _BARE_ANSWER.match(" ".join(re.sub(r"[^\w\s']", " ", text).split())):
        return None
    return score(text)


def is_upset(text: str, threshold: float = UPSET_THRESHOLD) -> bool:
    s = turn_score(text)
    return s is not None and s <= threshold


@dataclass
class Mood:
    """The caller's sentiment over one call, turn by turn (engine-side, pure)."""

    threshold: float = UPSET_THRESHOLD
    scores: list[float] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    """Redacted caller words of the upset turns (what the agent is shown)."""
    fired: bool = False

    def observe(self, text: str, shown: str | None = None) -> bool:
        """Score one caller speech turn; True when this turn was upset. ``shown`` is the redacted
        text kept as evidence (the clear text is scored, never stored)."""
        s = turn_score(text)
        if s is None:
            return False
        self.scores.append(s)
        upset = s <= self.threshold
        if upset:
            self.evidence = (self.evidence + [shown if shown is not None else text])[-MAX_EVIDENCE:]
        return upset

    @property
    def upset_turns(self) -> int:
        return sum(1 for s in self.scores if s <= self.threshold)

    def frustrated(self, failures: int) -> bool:
        """Calibrated evidence over turns: two upset turns, or one after the bot failed already."""
        n = self.upset_turns
        if n >= UPSET_TURNS or (n >= 1 and failures >= 1 and self.scores[-1] <= self.threshold):
            self.fired = True
        return self.fired

    def to_json(self) -> dict[str, object]:
        """The ``sentiment`` block of the context (:class:`ivr.handoff.context.Sentiment`)."""
        return {
            "mean": round(sum(self.scores) / len(self.scores), 3) if self.scores else 0.0,
            "lowest": round(min(self.scores), 3) if self.scores else 0.0,
            "turns": len(self.scores),
            "upset_turns": self.upset_turns,
            "frustrated": self.fired,
            "evidence": list(self.evidence),
        }
