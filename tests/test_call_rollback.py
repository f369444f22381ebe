"""Taking a turn back in the pure engine: snapshot before a turn, restore, handle the joined words.

The session ends a turn early when the words sound complete; if the caller goes on within a
second it restores the engine and hands it the whole utterance. The engine must then behave as
if the fragment had never been handled.
"""

from __future__ import annotations

from ivr.dialog import Listen, Transfer
from tests.test_engine_support import Caller, factory


def test_restore_undoes_a_turn_and_the_joined_words_route_as_one() -> None:
    call = Caller(factory())
    engine = call.dialog
    before = engine.snapshot()  # type: ignore[attr-defined]
    call.say("I want to")  # committed early, a fragment: the engine reprompts (a no-match)
    assert engine.no_match_tries == 1  # type: ignore[attr-defined]
    engine.restore(before)  # type: ignore[attr-defined]
    assert engine.no_match_tries == 0 and engine.transcript == before["transcript"]  # type: ignore[attr-defined]
    call.say("I want to talk to someone about billing")
    fresh = Caller(factory())
    fresh.say("I want to talk to someone about billing")
    assert call.texts == fresh.texts
    assert type(call.last) is type(fresh.last)
    if isinstance(call.last, Transfer) and isinstance(fresh.last, Transfer):
        assert dict(call.last.context) == dict(fresh.last.context)


def test_restore_mid_slot_collection() -> None:
    call = Caller(factory())
    call.say("where is my order")
    engine = call.dialog
    snap = engine.snapshot()  # type: ignore[attr-defined]
    call.say("1 2 3")  # the first digit group, committed too early
    engine.restore(snap)  # type: ignore[attr-defined]
    call.say("1 2 3 4 5 6")
    assert any("1 2 3 4 5 6" in t for t in call.texts), call.texts
    assert isinstance(call.last, Listen)
    engine.restore(snap)  # a snapshot can be restored again
    call.say("1 2 3 4 5 6")
    assert any("1 2 3 4 5 6" in t for t in call.texts)
