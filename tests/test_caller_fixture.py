"""Fixture loading: strict validation with messages that name the field, and recordings."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from ivr.audio import PHONE_RATE, float_to_pcm16, pcm16_to_ulaw, read_wav, ulaw_to_pcm16, write_wav
from ivr.caller.fixture import (
    DtmfTurn,
    FixtureError,
    HangupTurn,
    SilenceTurn,
    SpeechTurn,
    load_fixture,
    parse_fixture,
    resolve_audio,
    speech_bounds,
    write_recording,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_wav(tmp_path / "a.wav", np.zeros(800, np.int16), PHONE_RATE)
    return tmp_path


def error_of(data: object, base: Path) -> str:
    with pytest.raises(FixtureError) as info:
        parse_fixture(data, base, "f/call.yaml")
    return str(info.value)


def test_turn_kinds_are_picked_by_their_key(folder: Path) -> None:
    fx = parse_fixture({"turns": [
        {"audio": "a.wav", "after": "prompt_start", "delay_s": 1},
        {"dtmf": "12#"}, {"silence_s": 8}, {"hangup": True}]}, folder)
    assert [type(t) for t in fx.turns or []] == [SpeechTurn, DtmfTurn, SilenceTurn, HangupTurn]
    assert fx.turns and fx.turns[0].after == "prompt_start" and fx.turns[1].after == "prompt_end"


@pytest.mark.parametrize(("data", "message"), [
    ({"turns": [{"audio": "a.wav", "dealy_s": 1}]}, "turns.0.dealy_s: Extra inputs"),
    ({"turns": [{"dtmf": "1x"}]}, "turns.0.dtmf: not DTMF keys: 'x'"),
    ({"turns": [{"dtmf": 12}]}, 'quote key presses (dtmf: "12")'),
    ({"turns": [{"foo": 1}]}, "turns.0: a turn needs exactly one of: audio, dtmf"),
    ({"turns": [{"audio": "a.wav", "dtmf": "1"}]}, "exactly one of"),
    ({"turns": [{"hangup": True}, {"dtmf": "1"}]}, "turns.0: hangup must be the last turn"),
    ({"turns": [{"audio": "a.wav", "after": "bot_end"}]}, "turns.0.after: Input should be"),
    ({"turns": [{"silence_s": 0}]}, "turns.0.silence_s: Input should be greater than 0"),
    ({"turns": []}, "'turns' is empty"),
    ({"turns": [{"dtmf": "1"}], "recording": "a.wav"}, "either 'turns'"),
    ({"description": "x"}, "either 'turns'"),
    ({"turns": [{"dtmf": "1"}], "events": [{"t": 1, "dtmf": "1"}]}, "belong to raw mode"),
    ({"turns": [{"dtmf": "1"}], "expect": {"outcome": "transfer"}}, "expect.outcome"),
    ({"turns": [{"dtmf": "1"}], "expect": {"outcom": "hangup"}}, "expect.outcom: Extra"),
    ({"turns": [{"audio": "a.wav"}], "expect": {"transcripts_contain": [None, "x"]}},
     "one entry per speech turn"),
    ({"recording": "a.wav", "events": [{"t": -1, "dtmf": "1"}]}, "events.0.t"),
    ({"recording": "a.wav", "events": [{"t": 1, "dtmf": "12"}]}, "events.0.dtmf"),
    ("turns: []", "expected a mapping"),
])
def test_invalid_fixtures_name_the_field(folder: Path, data: object, message: str) -> None:
    assert message in error_of(data, folder)


def test_missing_audio_lists_every_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_SHARED_DATA", str(folder / "shared"))
    msg = error_of({"turns": [{"audio": "nope.wav"}, {"audio": "shared:speech/x.wav"}]}, folder)
    assert f"turns.0.audio: file not found: {folder / 'nope.wav'}" in msg
    assert f"turns.1.audio: file not found: {folder / 'shared' / 'speech' / 'x.wav'}" in msg


def test_shared_paths_resolve_to_the_shared_data_dir(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("IVR_SHARED_DATA", str(tmp_path))
    assert resolve_audio("shared:speech/a.wav", Path("/fx")) == tmp_path / "speech" / "a.wav"
    assert resolve_audio("b.wav", Path("/fx")) == Path("/fx/b.wav")
    monkeypatch.delenv("IVR_SHARED_DATA")
    default = resolve_audio("shared:speech/a.wav", Path("/fx"))
    assert default.parts[-4:] == ("shared", "data", "speech", "a.wav")


def test_transcripts_contain_is_per_turn_only_when_it_matches_the_speech_turns(
        folder: Path) -> None:
    per_turn = parse_fixture({"turns": [{"audio": "a.wav"}, {"dtmf": "1"}, {"audio": "a.wav"}],
                              "expect": {"transcripts_contain": [None, ["a", "b"]]}}, folder)
    assert per_turn.transcripts_per_turn()
    whole = parse_fixture({"turns": [{"audio": "a.wav"}],
                           "expect": {"transcripts_contain": ["a", "b"]}}, folder)
    assert not whole.transcripts_per_turn()


def test_bare_audio_file_is_one_turn_after_the_greeting(folder: Path) -> None:
    fx = load_fixture(folder / "a.wav")
    assert len(fx.turns or []) == 1 and isinstance((fx.turns or [])[0], SpeechTurn)
    assert (fx.turns or [])[0].after == "prompt_end"


def test_load_errors_for_missing_paths_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="no such fixture file"):
        load_fixture(tmp_path)
    (tmp_path / "call.yaml").write_text("turns: [\n")
    with pytest.raises(FixtureError, match="not valid YAML"):
        load_fixture(tmp_path)
    with pytest.raises(FixtureError, match="not a fixture folder"):
        load_fixture(tmp_path / "nothing.wav")


def test_write_recording_round_trips_audio_events_and_outcome(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ulaw = pcm16_to_ulaw(float_to_pcm16(rng.normal(0, 0.1, 16000).astype(np.float32)))
    folder = write_recording(tmp_path / "CA9", ulaw,
                             [(1.234567, "dtmf", "5"), (1.5, "hold", "x")],
                             "transfer: billing",
                             {"call_sid": "CA9", "intent": "billing", "turns": ["hi"]})
    fx = load_fixture(folder)
    assert fx.recording == "inbound.wav" and fx.expect.outcome == "transfer: billing"
    assert fx.expect.intent == "billing" and not fx.hangup_at_end
    assert [(e.t, e.dtmf) for e in fx.events] == [(1.235, "5")]
    assert fx.meta["other_events"] == [{"t": 1.5, "hold": "x"}]
    samples, rate = read_wav(folder / "inbound.wav")
    assert rate == PHONE_RATE and samples.size == 16000
    # mu-law -> 16-bit WAV -> mu-law is lossless, so a replay sends the same audio
    with wave.open(str(folder / "inbound.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.array_equal(ulaw_to_pcm16(pcm16_to_ulaw(pcm)), ulaw_to_pcm16(ulaw))
    doc = yaml.safe_load((folder / "call.yaml").read_text())
    assert doc["meta"]["call_sid"] == "CA9"


def test_write_recording_of_a_hang_up_replays_the_hang_up(tmp_path: Path) -> None:
    fx = load_fixture(write_recording(tmp_path / "r", b"\xff" * 800, [], "caller_hangup", {}))
    assert fx.hangup_at_end and fx.expect.outcome == "caller_hangup"
    fx = load_fixture(write_recording(tmp_path / "s", b"\xff" * 800, [], None, {"x": None}))
    assert fx.expect.outcome is None and "x" not in fx.meta


def test_speech_bounds_ignore_leading_and_trailing_quiet() -> None:
    t = np.arange(4000) / PHONE_RATE
    clip = np.concatenate([np.zeros(1600), 0.3 * np.sin(2 * np.pi * 300 * t), np.zeros(3200)])
    noise = np.random.default_rng(0).normal(0, 0.001, clip.size)
    start, end = speech_bounds((clip + noise).astype(np.float32), PHONE_RATE)
    assert abs(start - 1600) <= 160 and abs(end - 5600) <= 160
    assert speech_bounds(np.zeros(800, np.float32), PHONE_RATE) == (0, 0)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()
                                        if (p / "call.yaml").exists()))
def test_shipped_fixtures_load(name: str) -> None:
    fx = load_fixture(FIXTURES / name)  # skipped below only if the shared data is absent
    assert fx.description and fx.expect.outcome


@pytest.fixture(autouse=True)
def _needs_shared_data(request: pytest.FixtureRequest) -> None:
    if request.node.name.startswith("test_shipped_fixtures_load"):
        from ivr.caller.fixture import shared_data_dir

        if not (shared_data_dir() / "speech").exists():
            pytest.skip("shared speech data not available")
