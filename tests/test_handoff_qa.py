"""Call QA checks on the bot side of calls played through the real engine, stored per call."""

from __future__ import annotations

from pathlib import Path

from ivr.dialog import Say, Transfer
from ivr.handoff.qa import QaSink, check_call, summary
from ivr.store import CallRecord, Decision, MemoryStore, Turn
from ivr.store.records import RecordsDB

from .test_engine_support import Caller, factory


def _played(*texts: str, gap_s: float = 1.0, sid: str = "CAqa") -> tuple[CallRecord, Caller]:
    """A record as the session writes it, from the real engine; the bot answers ``gap_s``
    after each caller turn (the session's clock)."""
    call = Caller(factory())
    record = CallRecord(sid)
    clock = 0.0
    for d in call.turn:
        if isinstance(d, Say):
            record.turns.append(Turn("bot", d.text, "say", clock))
            clock += 2.0
    for text in texts:
        record.turns.append(Turn("caller", text, "speech", clock))
        clock += gap_s
        call.say(text)
        for d in call.turn:
            if isinstance(d, Say):
                record.turns.append(Turn("bot", d.text, "say", clock))
                clock += 2.0
        record.latency_ms.append(gap_s * 1000)
    return record, call


def checks(record: CallRecord, decision: Decision | None = None, **kw: object) -> set[str]:
    return {f.check for f in check_call(record, decision, **kw)}  # type: ignore[arg-type]


def test_a_clean_call_has_no_findings() -> None:
    record, call = _played("I want to send this back and get a refund")
    t = call.last
    assert isinstance(t, Transfer)
    assert checks(record, Decision("transfer", None, dict(t.context))) == set()


def test_no_match_streak_and_repeated_prompt() -> None:
    record, _ = _played("purple", "banana", "repeat", "repeat")
    found = checks(record)
    assert "no_match_streak" in found and "repeated_prompt" in found


def test_dead_air_and_slow_turns() -> None:
    record, _ = _played("where is my order", gap_s=3.6)
    assert {"dead_air", "slow_turn"} <= checks(record)


def test_missing_recording_notice() -> None:
    record, _ = _played("where is my order")
    assert "missing_recording_notice" in checks(record, recording_notice="calls are recorded")
    assert "missing_recording_notice" not in checks(record, recording_notice="Example Shop")


def test_transfer_without_context_and_hangup_during_long_prompt() -> None:
    record, _ = _played()
    record.outcome = "caller_hangup"  # hung up during the long main-menu prompt
    crash = Decision("transfer", None, {"error": "boom"})  # what the session's fail-safe sends
    assert {"transfer_without_context", "hangup_during_long_prompt"} <= checks(record, crash)


def test_findings_are_stored_and_summed_per_plan(tmp_path: Path) -> None:
    db = RecordsDB(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool")
    store = MemoryStore(sinks=[db, QaSink(db, "Example Shop")])
    try:
        bad, _ = _played("purple", "banana", sid="CAbad")
        good, _ = _played("where is my order", sid="CAgood")
        store.finish(bad)
        store.finish(good)
        s = summary(db, "Example Shop")
        assert s["calls"] == 2 and s["calls_with"]["no_match_streak"] == 1
        assert s["calls_with"]["dead_air"] == 0
        from ivr.handoff.qa_cli import main

        assert main(["--db", f"sqlite:///{tmp_path / 'calls.db'}",
                     "--spool", str(tmp_path / "spool")]) == 0
    finally:
        store.close()
