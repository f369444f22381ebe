"""Barge-in: do noise and echo interrupt our prompts, and how fast does real speech stop them?

Why: a cough, a door or the caller's speakerphone echoing our prompt must not cut the prompt
(and if something does, the prompt must come back within a second); a caller who really talks
over us must be heard at once. This plays calls through the real session (ivr.call: echo
cancellation, webrtcvad, Silero, the echo floor, playout/resume) on a simulated line with
Twilio's playout semantics (tests/line_sim.py: audio plays in stream time, marks echo when played,
``clear`` empties the queue) and the bot's audio mixed back into the inbound stream where stated:
``e20`` -20 dB at once, ``e20room`` -20 dB 150 ms later through a room's impulse response,
``e15room`` -15 dB 200 ms later through another room. The prompt is the example shop's greeting
rendered by Piper; ASR and the engine are fakes (the recogniser finds no words in noise).

Trials (the interruption starts 0.6, 1.5 or 2.4 s into the call, so some come before the echo
canceller has locked on, ~0.8 s into the first prompt):
- false, per kind: ``cough`` (synthetic: low-passed noise with a sharp attack, 0.15-0.5 s, three
  levels), ``burst`` (white noise, a door or a crackle), ``real_noise`` (the non-speech lead-in of
  the noisy recordings in arm_mlek_samples/noise_reduction and of whisper_jfk, Silero < 0.1,
  tiled to 0.4/0.8 s, at their level and at -25 dBFS), ``echo`` (the caller silent) and
  ``echo+line_noise`` (steady hiss at -40/-30 dBFS under the echo); counted: prompts
  interrupted (``clear`` sent), and of those, resumed within 1 s;
- resume: of each false interruption, stream time from ``clear`` to the prompt sent again; and
  for human speech the recogniser finds no words in (a side conversation, 2.5 s), from the end
  of that speech to the prompt sent again;
- real: LibriSpeech (arm_mlek_samples/asr), OSR, speech in DEMAND noise (noise_reduction),
  misc_small, whisper_jfk, and Piper sentences at other speaking rates and pitches (the project has
  one Piper voice, so "unlike the bot's" means faster/slower and higher/lower), on a handset at
  their own level and over the echo conditions at the prompt's level; counted: stream time from
  speech onset to ``clear`` (p50/p95/max) and misses.

Held out: these are the reported trials (``--set test``, the default). Everything chosen for
issue 12 item 3 (the pitch check on the LPC residual, its threshold 0.3 and its 6-frame window)
was chosen on ``--set tuning`` (bench/bargein_tuning.py: other noise segments, levels, rooms,
placements and speakers) and only then measured here.

Repeatable: each frame waits until the session has handled everything and its worker pool is
idle (work takes no stream time), and Piper's sampling noise is seeded, so a run gives the same
figures on any load (before, the greeting was a different rendering every run and results landed
wherever the scheduler let them: 7-11 of 93 false interruptions between two runs).

    python bench/bargein.py --json                   # as shipped, the reported trials
    python bench/bargein.py --json --set tuning      # where parameters are chosen
    python bench/bargein.py --json --no-echo-cancel  # the echo floor alone (before)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bargein_tuning as tuning  # noqa: E402
from bench._common import emit_json, machine_info, percentile  # noqa: E402
from ivr.audio import read_audio, resample, to_phone_ulaw  # noqa: E402
from ivr.call.bargein import BargeInConfig  # noqa: E402
from ivr.call.playout import speech_level  # noqa: E402
from ivr.session import CallSession  # noqa: E402
from tests.fakes import FixedSpeaker, fake_services  # noqa: E402
from tests.line_sim import (  # noqa: E402
    CountingExecutor,
    PacedLine,
    cough,
    false_trial_set,
    noise_burst,
    onset_s,
    place,
    room,
)

SHARED = ROOT.parent / "shared" / "data" / "speech"
GREETING = ("Thanks for calling Example Shop. You can say order status, returns, billing, or "
            "technical support. Or press 1 for order status, 2 for returns, 3 for billing.")
TIMES = (0.6, 1.5, 2.4)
ECHOES: dict[str, dict[str, Any]] = {
    "none": {"echo_gain": 0.0},
    "e20": {"echo_gain": 0.1},
    "e20room": {"echo_gain": 0.1, "echo_delay_s": 0.15, "echo_path": room(1)},
    "e15room": {"echo_gain": 0.1778, "echo_delay_s": 0.2, "echo_path": room(2)},
}
SENTENCES = ["I'd like to check on my order please.", "Billing, I have a question about a charge.",
             "Can I talk to somebody about a return?"]


class _Asr:
    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe_phone(self, samples: np.ndarray, hints: tuple[str, ...] = ()) -> Any:
        from ivr.asr import Transcript

        return Transcript(self.text, 0.9, samples.size / 8000, 0.0)


def play(prompt: bytes, caller: np.ndarray, heard: str, line: dict[str, Any],
         config: BargeInConfig) -> tuple[PacedLine, Any]:
    services = fake_services(transcriber=_Asr(heard), speaker=FixedSpeaker(prompt))
    services.barge_in = config
    pool = services.executor = CountingExecutor(2)
    ws = PacedLine(services.store.issue_token("CA1"), caller, max_s=12.0, **line)
    session = CallSession(ws, services)
    # Every frame waits for the session and its workers to be idle: the same run on any load.
    ws.backlog = lambda: session.backlog() + pool.in_flight()
    session.run()
    pool.shutdown(wait=True)
    return ws, services.store.get_record("CA1")


def turn_t(record: Any, kind: str) -> float | None:
    return next((t.t for t in record.turns if t.kind == kind), None)


def clip8k(path: Path, seconds: float = 2.5, skip_s: float = 0.0) -> np.ndarray:
    audio, rate = read_audio(path)
    audio = resample(audio, rate, 8000) if rate != 8000 else audio
    return audio[int(skip_s * 8000): int((skip_s + seconds) * 8000)].astype(np.float32)


def lead_in(audio: np.ndarray) -> np.ndarray:
    """The non-speech start of a recording: up to ~100 ms before Silero first reaches 0.1
    (it lags an onset by ~80 ms); empty if that is under 0.2 s."""
    from ivr.vad import NeuralVad

    vad = NeuralVad()
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    probs = [vad.feed(pcm[i: i + 160]) for i in range(0, pcm.size - 159, 160)]
    first = next((i for i, p in enumerate(probs) if p >= 0.1), len(probs))
    lead = audio[: max(0, first - 5) * 160]
    return lead if lead.size >= 1600 else lead[:0]


def real_noise() -> list[tuple[str, np.ndarray]]:
    """Non-speech stretches of real recordings: the lead-in before Silero hears speech."""
    paths = sorted((SHARED / "arm_mlek_samples" / "noise_reduction").glob("*.wav"))
    paths.append(SHARED / "whisper_jfk" / "jfk.flac")
    out = []
    for path in paths:
        if not path.exists():
            continue
        lead = lead_in(clip8k(path, 3.0))
        if lead.size:
            out.append((path.stem, lead))
    return out


def tile(clip: np.ndarray, seconds: float) -> np.ndarray:
    n = int(seconds * 8000)
    out = np.resize(clip, n).astype(np.float32)
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / 80)  # 10 ms fades
    return (out * ramp).astype(np.float32)


def at_rms(clip: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(clip ** 2)))
    return (clip * (10 ** (dbfs / 20) / rms)).astype(np.float32) if rms > 0 else clip


def false_trials(which: str = "test") -> list[tuple[str, str, np.ndarray, str]]:
    """(kind, name, caller track, echo condition)."""
    if which == "tuning":
        return tuning.false_trials(SHARED, clip8k, lead_in, tile, at_rms)
    trials: list[tuple[str, str, np.ndarray]] = []
    for seed, (dur, level) in enumerate([(0.15, 0.3), (0.25, 0.4), (0.35, 0.6), (0.5, 0.8),
                                         (0.25, 0.8), (0.4, 0.3)]):
        trials.append(("cough", f"cough{dur}/{level}", cough(dur, seed, level)))
    for seed, (dur, level) in enumerate([(0.2, 0.2), (0.4, 0.3), (0.8, 0.3)]):
        trials.append(("burst", f"burst{dur}/{level}", noise_burst(dur, seed, level)))
    for name, lead in real_noise():
        for dur in (0.4, 0.8):
            trials.append(("real_noise", f"{name}/{dur}/own", tile(lead, dur)))
            trials.append(("real_noise", f"{name}/{dur}/-25dB", at_rms(tile(lead, dur), -25)))
    return false_trial_set(trials, TIMES, list(ECHOES), ("e20", "e20room", "e15room"),
                           (-40, -30))


def real_speakers(which: str = "test") -> list[tuple[str, np.ndarray]]:
    if which == "tuning":
        return tuning.real_speakers(SHARED, clip8k, lead_in)
    real: list[tuple[str, np.ndarray]] = []
    for path in sorted((SHARED / "arm_mlek_samples" / "asr").glob("*.wav")):
        real.append((f"libri/{path.stem}", clip8k(path)))
    osr = SHARED / "osr_8k" / "OSR_us_000_0034_8k.wav"
    if osr.exists():
        whole = clip8k(osr, 30.0)
        for k, start in enumerate((3.5, 7.0, 10.5)):
            real.append((f"osr/{k}", whole[int(start * 8000): int((start + 2.5) * 8000)]))
    for name in ("p232_208", "p257_031"):  # speech in DEMAND noise (the noise is 25 dB down)
        path = SHARED / "arm_mlek_samples" / "noise_reduction" / f"{name}.wav"
        if path.exists():
            real.append((f"noisy/{name}", clip8k(path)))
    for path, skip in ((SHARED / "misc_small" / "sr_english.wav", 0.0),
                       (SHARED / "misc_small" / "vosk_test.wav", 0.6),
                       (SHARED / "whisper_jfk" / "jfk.flac", 0.2)):
        if path.exists():
            real.append((f"misc/{path.stem}", clip8k(path, 2.5, skip)))
    from ivr.audio import pcm16_to_float, ulaw_to_pcm16
    from ivr.tts import Speaker, VoiceConfig

    for k, (rate, pitch) in enumerate([(0.8, 1.0), (1.25, 1.0), (1.0, 0.85), (1.0, 1.2)]):
        sp = Speaker(VoiceConfig(length_scale=rate))
        audio = pcm16_to_float(ulaw_to_pcm16(sp.render(SENTENCES[k % len(SENTENCES)],
                                                       cache=False)))
        if pitch != 1.0:  # played at 8 kHz after resampling: pitch (and tempo) x pitch
            audio = resample(audio, 8000, int(8000 / pitch))
        real.append((f"piper/rate{rate}/pitch{pitch}", audio[: int(2.5 * 8000)]))
    return real


def summary(values: list[float]) -> dict[str, int | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None, "n": 0}
    return {"p50_ms": round(1000 * (percentile(values, 50) or 0)),
            "p95_ms": round(1000 * (percentile(values, 95) or 0)),
            "max_ms": round(1000 * max(values)), "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    ap.add_argument("--set", choices=("test", "tuning"), default="test",
                    help="test: the reported, held-out trials; tuning: where parameters are "
                         "chosen (bench/bargein_tuning.py)")
    ap.add_argument("--no-echo-cancel", action="store_true",
                    help="decide with the echo floor alone (the behaviour before ivr.call.echo)")
    ap.add_argument("--barge", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a BargeInConfig field (for sweeps on --set tuning)")
    args = ap.parse_args(argv)
    started = time.monotonic()
    import dataclasses

    import onnxruntime

    from ivr.tts import Speaker

    # Piper samples its prosody noise inside the ONNX graph, seeded when a voice's session is
    # made: without a fixed seed every run played a different rendering of the greeting (and
    # of the Piper callers), the main reason the figures moved from run to run.
    onnxruntime.set_seed(0)

    config = BargeInConfig(echo=None) if args.no_echo_cancel else BargeInConfig()
    overrides = dict(kv.split("=", 1) for kv in args.barge)
    config = dataclasses.replace(config, **{k: type(getattr(config, k))(v)
                                            for k, v in overrides.items()})
    prompt = Speaker().render(GREETING, cache=False)

    false_rows = []
    echoes = tuning.ECHOES if args.set == "tuning" else ECHOES
    for kind, name, caller, echo in false_trials(args.set):
        line, record = play(prompt, caller, "", echoes[echo], config)
        b, r = turn_t(record, "barge_in"), turn_t(record, "resume")
        false_rows.append({"kind": kind, "trial": name, "echo": echo,
                           "interrupted": "clear" in line.events(),
                           "resumed_after_s": round(r - b, 2) if b is not None and r is not None
                           else None})
    kinds: dict[str, dict[str, Any]] = {}
    for row in false_rows:
        k = kinds.setdefault(row["kind"], {"trials": 0, "interrupted": 0, "resumed_1s": 0})
        k["trials"] += 1
        if row["interrupted"]:
            k["interrupted"] += 1
            after = row["resumed_after_s"]
            k["resumed_1s"] += int(after is not None and after <= 1.0)
    for k in kinds.values():
        k["rate"] = round(k["interrupted"] / k["trials"], 4)
    interrupted = [r for r in false_rows if r["interrupted"]]

    resume_rows = []
    wordless = (sorted((SHARED / "arm_mlek_samples" / "kws").glob("*.wav"))
                if args.set == "tuning" else
                sorted((SHARED / "arm_mlek_samples" / "asr").glob("*.wav")))
    for path in wordless:
        for echo in ("none", "e18room" if args.set == "tuning" else "e20room"):
            clip = clip8k(path)
            line, record = play(prompt, place(10.0, [(1.5, clip)]), "", echoes[echo], config)
            b, r = turn_t(record, "barge_in"), turn_t(record, "resume")
            ended = 1.5 + clip.size / 8000 - onset_s(clip[::-1].copy())  # its last loud window
            resume_rows.append({"trial": f"{path.stem}/{echo}",
                                "resumed_after_s": None if b is None or r is None
                                else round(r - b, 3),
                                "after_speech_ended_s": None if r is None
                                else round(r - ended, 3)})
    false_resumes = [r["resumed_after_s"] for r in interrupted
                     if r["resumed_after_s"] is not None]
    after_end = [r["after_speech_ended_s"] for r in resume_rows
                 if r["after_speech_ended_s"] is not None]

    ref = speech_level(prompt)
    real_rows = []
    real_echoes, real_at = ((tuning.REAL_ECHOES, tuning.REAL_AT) if args.set == "tuning"
                            else (("none", "e20", "e20room"), (1.5,)))
    for name, clip in real_speakers(args.set):
        for echo in real_echoes:
            for at in real_at:
                c = clip
                if echo != "none":
                    lvl = speech_level(to_phone_ulaw(clip, 8000))
                    c = (clip * (ref / lvl)).astype(np.float32) if lvl > 0 else clip
                line, record = play(prompt, place(10.0, [(at, c)]), "billing please",
                                    echoes[echo], config)
                b = turn_t(record, "barge_in")
                lag = None if b is None else round(b - (at + onset_s(c)), 3)
                real_rows.append({"trial": f"{name}/{echo}/at{at}", "lag_s": lag,
                                  "resumed": turn_t(record, "resume") is not None})
    lags = [r["lag_s"] for r in real_rows if r["lag_s"] is not None]
    out = {
        "benchmark": "bargein",
        "set": args.set,
        "echo_cancel": not args.no_echo_cancel,
        "false_trials": len(false_rows),
        "false_interrupted": len(interrupted),
        "false_interrupt_rate": round(len(interrupted) / len(false_rows), 4),
        "false_resumed_within_1s": sum(1 for r in interrupted if r["resumed_after_s"] is not None
                                       and r["resumed_after_s"] <= 1.0),
        "false_by_kind": kinds,
        "false_by_echo": {e: sum(1 for r in interrupted if r["echo"] == e) for e in echoes},
        "false_resume": summary(false_resumes),
        "wordless_speech_resume_after_it_ended": summary(after_end),
        "resume_missing": sum(1 for r in resume_rows if r["resumed_after_s"] is None),
        "real_trials": len(real_rows),
        "real_missed": sum(1 for r in real_rows if r["lag_s"] is None),
        "real_resumed_wrongly": sum(1 for r in real_rows if r["resumed"]),
        "real_lag": summary(lags),
        "real_over_300ms": sum(1 for v in lags if v > 0.3),
        "false": false_rows,
        "resume_trials": resume_rows,
        "real": real_rows,
        "note": "times in stream time (20 ms per inbound frame): lag from speech onset (10 ms "
                "window within 14 dB of the clip's peak) to the session's clear; resume from "
                "clear to the prompt sent again; add Twilio's own buffering for what a caller "
                "hears",
        "overrides": overrides,
        "machine": machine_info(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(f"false barge-ins: {out['false_interrupted']}/{out['false_trials']} interrupted, "
          f"{out['false_resumed_within_1s']} of them resumed within 1 s; by kind "
          + ", ".join(f"{k} {v['interrupted']}/{v['trials']}" for k, v in kinds.items()))
    print(f"false interruptions resumed after clear: {out['false_resume']}; speech without "
          f"words resumed after it ended: {out['wordless_speech_resume_after_it_ended']} "
          f"({out['resume_missing']} not resumed)")
    print(f"real: {out['real_missed']}/{out['real_trials']} missed, "
          f"{out['real_resumed_wrongly']} resumed wrongly, lag {out['real_lag']}, "
          f"{out['real_over_300ms']} over 300 ms")
    for r in interrupted:
        print(f"  interrupted: {r}")
    for r in real_rows:
        if r["lag_s"] is None or r["lag_s"] > 0.3 or r["resumed"]:
            print(f"  real: {r}")
    if args.json:
        emit_json(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
