"""One decision policy for "what did the caller mean?", the way a careful operator does it.

Pure functions over calibrated candidates ``(name, probability)``, best first: menus, global
intents and FAQ answers are all candidates on the same (probability) scale, so one set of
dialplan ``thresholds`` decides them all:

* ``accept``: the best is likely enough to act on;
* ``disambiguate``: two candidates are both plausible (the second at least ``disambiguate`` and
  together at least ``confirm``): ask "is it A, or B?";
* ``confirm``: one plausible candidate: ask "you'd like A, is that right?";
* ``reprompt``: nothing is likely: ask again, naming the top few options.

A candidate the caller already rejected in this turn is never offered again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ivr.nlu.lexical import normalize

Kind = Literal["accept", "confirm", "disambiguate", "reprompt"]


class Policy(Protocol):
    """The dialplan's ``settings.thresholds`` (:class:`ivr.dialplan.models.Thresholds`)."""

    @property
    def accept(self) -> float: ...

    @property
    def confirm(self) -> float: ...

    @property
    def disambiguate(self) -> float: ...

    @property
    def suggest(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one understood utterance; ``options`` are candidate names, best first."""

    kind: Kind
    options: tuple[str, ...]


def decide(
    ranked: Sequence[tuple[str, float]],
    policy: Policy,
    rejected: Collection[str] = (),
) -> Decision:
    """The policy's answer for ``ranked`` candidates (calibrated probabilities, best first)."""
    live = sorted(
        ((n, p) for n, p in ranked if n not in rejected), key=lambda c: -c[1]
    )
    if not live:
        return Decision("reprompt", ())
    (n1, p1) = live[0]
    if p1 >= policy.accept:
        return Decision("accept", (n1,))
    if len(live) > 1:
        n2, p2 = live[1]
        if p2 >= policy.disambiguate and p1 + p2 >= policy.confirm:
            return Decision("disambiguate", (n1, n2))
    if p1 >= policy.confirm:
        return Decision("confirm", (n1,))
    return Decision("reprompt", tuple(n for n, _ in live[: policy.suggest]))


_ORDINALS = (
    (re.compile(r"\b(first|1st|former|top)\b"), re.compile(r"\b(second|2nd|latter|other)\b")),
    (re.compile(r"\b(one|1)\b"), re.compile(r"\b(two|2)\b")),
)
"""Ordinal words, then bare numbers ("option two"): "the second one" is second, not one."""


def parse_choice(text: str, names: Sequence[str]) -> int | None:
    """Which of two offered options the caller picked: by ordinal, or by saying its name.

    Returns the option's index, or None when the answer names neither (or both). "the first
    one" / "the second" / "the latter" / "option two" count, as does the option's own name.
    """
    t = normalize(text)
    if not t:
        return None
    named = [i for i, n in enumerate(names) if normalize(n) and _contains(t, normalize(n))]
    if len(named) == 1:
        return named[0]
    for first_re, second_re in _ORDINALS:
        first, second = bool(first_re.search(t)), bool(second_re.search(t))
        if first != second:
            return 0 if first else 1
        if first:
            return None
    return None


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None
