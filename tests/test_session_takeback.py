"""Commit early, roll back safely: the caller goes on right after we ended their turn.

Real speech (a human "one", twice, with a pause) drives the real VAD; the ASR answers "Billing,
please." so the turn ends at the short pause; the caller then goes on within a second. The reply
(a transfer) must not be carried out, the engine must be restored to before the fragment, and
the joined audio must reach the engine as one turn.
"""

from __future__ import annotations

from typing import Any

from ivr.dialog import CallerInput, Directive, Listen, Say, Transfer
from ivr.vad import EndpointConfig

from .fakes import FakeFactory, fake_services
from .test_session_pipeline import (
    SILENCE,
    FakeSpeaker,
    FakeTranscriber,
    FakeTwilio,
    frames,
    play,
    speech_ulaw,
    start_msgs,
)


class Undoable:
    """A dialog whose whole state is the inputs it has handled (snapshot = how many)."""

    def __init__(self) -> None:
        self.inputs: list[CallerInput] = []
        self.restored: list[int] = []

    def start(self) -> list[Directive]:
        return [Say("Welcome."), Listen(timeout_s=4.0)]

    def handle(self, event: CallerInput) -> list[Directive]:
        self.inputs.append(event)
        return [Say("Transferring you."), Transfer("billing", {"intent": "billing"})]

    def snapshot(self) -> int:
        return len(self.inputs)

    def restore(self, snapshot: int) -> None:
        self.restored.append(snapshot)
        del self.inputs[snapshot:]


def run(pause_frames: int, take_back_s: float = 1.0) -> tuple[FakeTwilio, Any, Undoable,
                                                               FakeTranscriber]:
    factory = FakeFactory()
    dialog = Undoable()
    factory.new_call = lambda info: dialog  # type: ignore[method-assign]
    asr = FakeTranscriber("Billing, please.")
    services = fake_services(factory, transcriber=asr, speaker=FakeSpeaker())
    services.endpoint = EndpointConfig(end_silence_s=1.5, pause_s=0.2)
    services.take_back_s = take_back_s
    services.completeness = None  # two-word answers are the rules' call; keeps this fast
    token = services.store.issue_token("CA1")
    word = frames(speech_ulaw())
    ws = FakeTwilio(start_msgs(token) + [("frame", SILENCE)] * 25 + word
                    + [("frame", SILENCE)] * pause_frames + word + [("frame", SILENCE)] * 200)
    play(ws, services)
    return ws, services.store.get_record("CA1"), dialog, asr


def test_caller_going_on_takes_the_turn_back_and_joins_the_words() -> None:
    # The recording's own silence makes a 640 ms pause; the turn ends ~200 ms into it.
    ws, record, dialog, asr = run(pause_frames=0)
    kinds = [t.kind for t in record.turns]
    assert "take_back" in kinds, kinds
    assert dialog.restored == [0]
    assert len(dialog.inputs) == 1  # one turn reached the engine in the end
    assert max(asr.calls) > 2 * min(asr.calls)  # the last decode heard both parts
    assert record.outcome == "transfer: billing" and ws.closed
    # The caller finished one turn: one timing stands, the taken-back reply's (if its audio had
    # started) is marked so the record still pairs with the caller's turns.
    assert [bool(t.get("taken_back")) for t in record.timings] == [True, False], record.timings


def test_without_take_back_the_fragment_is_final() -> None:
    ws, record, dialog, asr = run(pause_frames=0, take_back_s=0.0)
    assert "take_back" not in [t.kind for t in record.turns]
    assert dialog.restored == [] and len(dialog.inputs) == 1
    assert record.outcome == "transfer: billing"


def test_a_pause_longer_than_the_take_back_window_is_a_new_turn() -> None:
    ws, record, dialog, asr = run(pause_frames=60)  # 1.84 s
    assert "take_back" not in [t.kind for t in record.turns]
    assert dialog.restored == []
