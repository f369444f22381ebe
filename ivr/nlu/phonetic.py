"""Phonetic repair of the plan's vocabulary in ASR transcripts ("a PR" -> "APR").

Whisper spells rare domain words by sound: "virtue or card" for "virtual card", "apple pie"
for "Apple Pay". A span of the transcript whose Metaphone key (jellyfish) is within one edit in
five of a vocabulary term's key is replaced by the term before classification. Keys shorter than
three letters are never matched (too many words sound like "PN"), and a span must have roughly
the term's number of words, so one short word cannot swallow a phrase.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import jellyfish

from ivr.nlu.lexical import normalize

MIN_KEY = 3
MIN_SIMILARITY = 0.8


def _key(text: str) -> str:
    return str(jellyfish.metaphone(normalize(text).replace(" ", "")))


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    norm: str
    key: str
    words: int


class VocabularyRepair:
    """Rewrites transcripts so the plan's vocabulary is spelled as the plan spells it."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._terms = [
            _Term(t, normalize(t), k, len(normalize(t).split()))
            for t in dict.fromkeys(terms)
            if normalize(t) and len(k := _key(t)) >= MIN_KEY
        ]

    def repair(self, text: str) -> str:
        """``text`` with sound-alike spans replaced by vocabulary terms (unchanged if none)."""
        words = normalize(text).split()
        if not words or not self._terms:
            return text
        out: list[str] = []
        i = 0
        changed = False
        while i < len(words):
            hit = self._match(words, i)
            if hit is None:
                out.append(words[i])
                i += 1
                continue
            term, n = hit
            changed = changed or " ".join(words[i : i + n]) != term.norm
            out.append(term.text)
            i += n
        return " ".join(out) if changed else text

    def _match(self, words: list[str], i: int) -> tuple[_Term, int] | None:
        best: tuple[float, _Term, int] | None = None
        for term in self._terms:
            for n in {max(1, term.words - 1), term.words, term.words + 1}:
                if i + n > len(words):
                    continue
                span = " ".join(words[i : i + n])
                if span == term.norm:
                    return term, n
                key = _key(span)
                if len(key) < MIN_KEY:
                    continue
                dist = jellyfish.levenshtein_distance(key, term.key)
                sim = 1 - dist / max(len(key), len(term.key))
                if sim >= MIN_SIMILARITY and (best is None or sim > best[0]):
                    best = (sim, term, n)
        return None if best is None else (best[1], best[2])
