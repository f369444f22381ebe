"""Scoring as pure logic: policy outcomes, ECE with its reliability table, WER per word class."""

from __future__ import annotations

import pytest

from ivr.dialplan.models import Thresholds
from ivr.evaluate.scoring import outcome, rates, reliability, suggest_accept, word_error_rates

TH = Thresholds()


def test_outcomes() -> None:
    assert outcome([("a", 0.9)], "a", TH) == "right"
    assert outcome([("a", 0.9)], "b", TH) == "wrong"
    assert outcome([("a", 0.55), ("b", 0.1)], "a", TH) == "confirmed_right"
    assert outcome([("a", 0.4), ("b", 0.3)], "b", TH) == "confirmed_right"   # disambiguation
    assert outcome([("a", 0.55), ("b", 0.1)], "b", TH) == "confirmed_wrong"
    assert outcome([("a", 0.1)], "a", TH) == "no_match"
    assert outcome([("a", 0.9)], None, TH) == "wrong"        # out of scope, routed anyway
    r = rates(["right", "right", "wrong", "confirmed_right"])
    assert r["right"] == 0.5 and r["wrong"] == 0.25 and r["confirm_rate"] == 0.25


def test_reliability_table_and_ece() -> None:
    rel = reliability([0.95, 0.95, 0.15, 0.15], [True, False, False, False])
    assert rel.rows == ((0.1, 0.2, 2, 0.15, 0.0), (0.9, 1.0, 2, 0.95, 0.5))
    assert rel.ece == pytest.approx(0.5 * 0.15 + 0.5 * 0.45)
    perfect = reliability([0.8] * 5, [True, True, True, True, False])
    assert perfect.ece == pytest.approx(0.0)
    assert reliability([], []).ece == 0.0


def test_wer_per_word_class() -> None:
    wer = word_error_rates(
        ["I forgot my PIN", "top up failed"], ["I forgot my opinion", "talked up failed"],
        {"vocabulary": frozenset({"pin", "top", "up"}), "other": frozenset({"forgot", "failed"})},
    )
    assert wer["all"] == pytest.approx(2 / 7, abs=1e-4)
    assert wer["vocabulary"] == pytest.approx(2 / 3, abs=1e-4)
    assert wer["other"] == 0.0


def test_suggested_accept_keeps_wrong_routes_low() -> None:
    ranked = [[("a", 0.9)], [("a", 0.72)], [("b", 0.62)], [("a", 0.95)]]
    gold = ["a", "b", "a", "a"]                  # the 0.72 and 0.62 guesses are wrong
    assert suggest_accept(ranked, gold, TH, max_wrong=0.0) == 0.75
