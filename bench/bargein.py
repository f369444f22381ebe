"""Barge-in: do noise and echo interrupt our prompts, and how fast does real speech stop them?

Why: a cough, a door or the caller's speakerphone echoing our prompt must not cut the prompt
(and if something does, the prompt must come back within a second); a caller who really talks
over us must be heard at once. This plays calls through the real session (ivr.call: webrtcvad,
Silero, the echo floor, playout/resume) on a simulated line with Twilio's playout semantics
(tests/line_sim.py: audio plays in stream time, marks echo when played, ``clear`` empties the
queue) and the bot's audio mixed back at -20 dB where stated. The prompt is the example shop's
greeting rendered by Piper; ASR and the engine are fakes (the recogniser finds no words in noise).

Trials:
- false: coughs (synthetic, 0.15-0.5 s, three levels), white-noise bursts, and our own echo at
  -20 dB with the caller silent; counted: prompts interrupted (``clear`` sent), and of those,
  resumed within 1 s;
- real: LibriSpeech sentences (arm_mlek_samples) and OSR sentences, at their recorded level on a
  handset and at the prompt's level over a -20 dB echo; counted: stream time from speech onset
  to ``clear`` (p50/p95/max) and misses.

    python bench/bargein.py --json
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

from bench._common import emit_json, machine_info, percentile  # noqa: E402
from ivr.audio import read_audio, resample, to_phone_ulaw  # noqa: E402
from ivr.call.playout import speech_level  # noqa: E402
from ivr.session import CallSession  # noqa: E402
from tests.fakes import FixedSpeaker, fake_services  # noqa: E402
from tests.line_sim import PacedLine, cough, noise_burst, onset_s, place  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "speech"
GREETING = ("Thanks for calling Example Shop. You can say order status, returns, billing, or "
            "technical support. Or press 1 for order status, 2 for returns, 3 for billing.")
AT_S = 1.5  # the interruption starts here (the prompt plays from ~0.1 s)


class _Asr:
    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe_phone(self, samples: np.ndarray, hints: tuple[str, ...] = ()) -> Any:
        from ivr.asr import Transcript

        return Transcript(self.text, 0.9, samples.size / 8000, 0.0)



def play(prompt: bytes, caller: np.ndarray, heard: str, echo: float) -> tuple[PacedLine, Any]:
    services = fake_services(transcriber=_Asr(heard), speaker=FixedSpeaker(prompt))
    line = PacedLine(services.store.issue_token("CA1"), caller, echo_gain=echo, max_s=12.0)
    session = CallSession(line, services)
    line.backlog = session.backlog
    session.run()
    return line, services.store.get_record("CA1")


def turn_t(record: Any, kind: str) -> float | None:
    return next((t.t for t in record.turns if t.kind == kind), None)


def clip8k(path: Path, seconds: float = 2.5) -> np.ndarray:
    audio, rate = read_audio(path)
    audio = resample(audio, rate, 8000) if rate != 8000 else audio
    return audio[: int(seconds * 8000)].astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = ap.parse_args(argv)
    started = time.monotonic()
    from ivr.tts import Speaker

    prompt = Speaker().render(GREETING, cache=False)
    silent = np.zeros(int(10 * 8000), dtype=np.float32)

    false_trials: list[tuple[str, np.ndarray, float]] = []
    for seed, (dur, level) in enumerate([(0.15, 0.3), (0.25, 0.4), (0.35, 0.6), (0.5, 0.8),
                                         (0.25, 0.8), (0.4, 0.3)]):
        for echo in (0.0, 0.1):
            false_trials.append((f"cough{dur}/{level}/echo{echo}",
                                 place(10.0, [(AT_S, cough(dur, seed, level))]), echo))
    for seed, (dur, level) in enumerate([(0.2, 0.2), (0.4, 0.3), (0.8, 0.3)]):
        for echo in (0.0, 0.1):
            false_trials.append((f"burst{dur}/{level}/echo{echo}",
                                 place(10.0, [(AT_S, noise_burst(dur, seed, level))]), echo))
    for echo in (0.1, 0.1778):  # -20 dB and -15 dB
        false_trials.append((f"echo_only/{echo}", silent, echo))

    false_rows = []
    for name, caller, echo in false_trials:
        line, record = play(prompt, caller, "", echo)
        cleared = "clear" in line.events()
        b, r = turn_t(record, "barge_in"), turn_t(record, "resume")
        false_rows.append({"trial": name, "interrupted": cleared,
                           "resumed_after_s": round(r - b, 2) if b is not None and r is not None
                           else None})
    interrupted = [r for r in false_rows if r["interrupted"]]
    resumed_1s = [r for r in interrupted
                  if r["resumed_after_s"] is not None and r["resumed_after_s"] <= 1.0]

    real: list[tuple[str, np.ndarray]] = []
    for path in sorted((SHARED / "arm_mlek_samples" / "asr").glob("*.wav")):
        real.append((path.stem, clip8k(path)))
    osr = SHARED / "osr_8k" / "OSR_us_000_0034_8k.wav"
    if osr.exists():
        whole = clip8k(osr, 30.0)
        for k, start in enumerate((3.5, 7.0, 10.5)):
            real.append((f"osr{k}", whole[int(start * 8000): int((start + 2.5) * 8000)]))
    ref = speech_level(prompt)
    real_rows = []
    for name, clip in real:
        for echo in (0.0, 0.1):
            c = clip
            if echo:
                lvl = speech_level(to_phone_ulaw(clip, 8000))
                c = (clip * (ref / lvl)).astype(np.float32) if lvl > 0 else clip
            line, record = play(prompt, place(10.0, [(AT_S, c)]), "billing please", echo)
            b = turn_t(record, "barge_in")
            lag = None if b is None else round(b - (AT_S + onset_s(c)), 3)
            real_rows.append({"trial": f"{name}/echo{echo}", "lag_s": lag,
                              "resumed": turn_t(record, "resume") is not None})
    lags = [r["lag_s"] for r in real_rows if r["lag_s"] is not None]
    out = {
        "benchmark": "bargein",
        "false_trials": len(false_rows),
        "false_interrupted": len(interrupted),
        "false_interrupt_rate": round(len(interrupted) / len(false_rows), 4),
        "false_resumed_within_1s": len(resumed_1s),
        "real_trials": len(real_rows),
        "real_missed": sum(1 for r in real_rows if r["lag_s"] is None),
        "real_resumed_wrongly": sum(1 for r in real_rows if r["resumed"]),
        "real_lag_p50_ms": None if not lags else round(1000 * (percentile(lags, 50) or 0)),
        "real_lag_p95_ms": None if not lags else round(1000 * (percentile(lags, 95) or 0)),
        "real_lag_max_ms": None if not lags else round(1000 * max(lags)),
        "false": false_rows,
        "real": real_rows,
        "note": "lags in stream time from speech onset (10 ms window within 14 dB of the clip's "
                "peak) to the session's clear; add Twilio's own buffering for what a caller hears",
        "machine": machine_info(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(f"false barge-ins: {out['false_interrupted']}/{out['false_trials']} interrupted, "
          f"{out['false_resumed_within_1s']} of them resumed within 1 s; real: "
          f"{out['real_missed']}/{out['real_trials']} missed, lag p50 {out['real_lag_p50_ms']} "
          f"p95 {out['real_lag_p95_ms']} max {out['real_lag_max_ms']} ms")
    for r in interrupted:
        print(f"  interrupted: {r}")
    if args.json:
        emit_json(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
