"""The line model in stream time: playback, mark echoes, clear, and when caller turns start."""

from __future__ import annotations

from ivr.caller.clock import (
    FRAME_SAMPLES,
    SILENT_FRAME,
    CallerScript,
    Playback,
    Step,
    Tick,
    TriggerKind,
    samples_of,
)

F = FRAME_SAMPLES
S = 8000  # one second of line time


def test_marks_echo_when_the_audio_before_them_has_played() -> None:
    line = Playback()
    line.on_media(0, b"\x00" * S)
    line.on_mark(0, "a")
    line.on_media(100, b"\x00" * (S // 2))  # queued behind the first second
    line.on_mark(100, "b")
    assert line.due_marks(S - 1) == []
    assert line.due_marks(S) == ["a"]
    assert line.due_marks(S + S // 2 - 1) == []
    assert line.due_marks(S + S // 2) == ["b"]
    assert line.end == S + S // 2 and len(line.prompts) == 1


def test_a_mark_with_nothing_queued_is_due_at_once() -> None:
    line = Playback()
    line.on_mark(4000, "idle")
    assert line.due_marks(4000) == ["idle"]


def test_clear_drops_unplayed_audio_and_returns_every_pending_mark() -> None:
    line = Playback()
    line.on_media(0, b"\x00" * (3 * S))
    line.on_mark(0, "a")
    line.on_mark(0, "b")
    assert line.on_clear(S) == ["a", "b"]
    assert not line.playing(S) and line.due_marks(10 * S) == []
    assert line.prompts[0].end == S and line.prompts[0].cleared
    assert line.render().size == S  # the caller heard one second
    line.on_media(2 * S, b"\x00" * F)
    assert [p.start for p in line.prompts] == [0, 2 * S]


def test_render_places_prompts_at_their_play_time_with_silent_gaps() -> None:
    line = Playback()
    line.on_media(0, b"\x00" * F)  # mu-law 0x00 is the most negative sample
    line.on_media(5 * F, b"\x00" * F)
    out = line.render(10 * F)
    assert out.size == 10 * F
    assert (out[:F] < -30000).all() and (out[F : 5 * F] == 0).all()
    assert (out[5 * F : 6 * F] < 0).all()


def speech(after: TriggerKind = "prompt_end", delay: float = 0.0, audio_s: float = 0.2,
           speech_end_s: float = 0.1, wait_s: float = 60.0) -> Step:
    return Step(0, "speech", after, delay=samples_of(delay), audio=b"\x00" * samples_of(audio_s),
                speech_end=samples_of(speech_end_s), wait=samples_of(wait_s))


def run(script: CallerScript, line: Playback, frames: int, start: int = 0) -> list[Tick]:
    return [script.tick((start + n) * F, line) for n in range(frames)]


def test_prompt_end_waits_for_a_prompt_to_play_out_plus_the_delay() -> None:
    line, script = Playback(), CallerScript([speech(delay=0.4)])
    ticks = run(script, line, 10)
    assert all(t.frame == SILENT_FRAME and t.started is None for t in ticks)  # no prompt yet
    line.on_media(10 * F, b"\x00" * S)  # greeting: 1 s from frame 10
    ticks = run(script, line, 100, start=10)
    started = [n + 10 for n, t in enumerate(ticks) if t.started is not None]
    assert started == [10 + 50 + 20]  # 1 s of audio + 0.4 s
    assert ticks[70].frame == b"\x00" * F


def test_prompt_end_restarts_when_the_bot_speaks_again_during_the_delay() -> None:
    line, script = Playback(), CallerScript([speech(delay=0.4)])
    line.on_media(0, b"\x00" * S)
    run(script, line, 60)  # 0.2 s into the delay
    line.on_media(60 * F, b"\x00" * (S // 2))  # second sentence, rendered late
    ticks = run(script, line, 80, start=60)
    assert [n + 60 for n, t in enumerate(ticks) if t.started] == [60 + 25 + 20]


def test_prompt_start_fires_delay_after_the_bot_starts_talking() -> None:
    line, script = Playback(), CallerScript([speech("prompt_start", delay=1.0)])
    line.on_media(5 * F, b"\x00" * (5 * S))
    ticks = run(script, line, 100)
    assert [n for n, t in enumerate(ticks) if t.started] == [5 + 50]


def test_next_turn_ignores_prompts_from_before_the_caller_finished() -> None:
    first = speech(delay=0.0, audio_s=0.4, speech_end_s=0.2)
    second = Step(1, "dtmf", "prompt_end", keys=((0, "1"), (800, "2")), length=1600)
    line, script = Playback(), CallerScript([first, second])
    line.on_media(0, b"\x00" * F)
    ticks = run(script, line, 60)
    assert ticks[1].started is not None  # the greeting (one frame) ended at frame 1
    assert ticks[1 + 9].speech_ended is not None  # its 10th frame ends the 0.2 s of speech
    assert all(not t.started for t in ticks[2:])  # the old greeting does not trigger turn 2
    line.on_media(60 * F, b"\x00" * F)  # the bot answers
    ticks = run(script, line, 20, start=60)
    assert ticks[1].started is not None and ticks[1].keys == ["1"]
    assert ticks[6].keys == ["2"]
    assert script.finished and script.unplayed == []


def test_wait_runs_out_and_the_turn_starts_anyway() -> None:
    line, script = Playback(), CallerScript([speech(wait_s=0.5)])
    ticks = run(script, line, 30)
    assert [n for n, t in enumerate(ticks) if t.started] == [25]
    assert script.log[0].waited_out


def test_hangup_and_recording_end_the_line() -> None:
    hang = Step(0, "hangup", "previous", delay=2 * F)
    script = CallerScript([hang])
    ticks = run(script, Playback(), 5)
    assert [t.hangup for t in ticks] == [False, False, True, False, False]
    rec = Step(0, "recording", "immediate", audio=b"\x01" * (3 * F), speech_end=3 * F,
               keys=((F + 5, "7"),), length=3 * F, hangup_after=True)
    script = CallerScript([rec])
    ticks = run(script, Playback(), 4)
    assert ticks[1].keys == ["7"] and ticks[2].hangup and ticks[0].frame == b"\x01" * F


def test_after_the_script_the_line_carries_noise_not_digital_silence() -> None:
    noise = bytes(range(256)) * 20
    script = CallerScript([Step(0, "silence", "previous", length=F)], noise)
    ticks = run(script, Playback(), 3)
    assert all(t.frame != SILENT_FRAME and len(t.frame) == F for t in ticks)
    assert script.finished
