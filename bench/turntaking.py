"""Turn-taking on speech with real pauses: how long each end-of-turn policy waits after the caller
is done, and how often it cuts a caller off who was only pausing.

Why: end of turn is a trade. Waiting a fixed 600 ms of silence is slow for callers who are done
and still cuts off callers who pause 700 ms mid-sentence ("I got a bill for ... twenty dollars").
This drives the *real* turn-taking code (ivr.call.turntaking with ivr.vad's webrtcvad and the real
Whisper tiny.en for the speculative decodes, each result arriving after the stream time the decode
really took) over calls built from speech:

- ``paused``: one turn said in two parts with a 300/500/700/900 ms pause between words, before a
  number, or between digit groups (in a digits slot); the bot must not start before part two;
- ``stop``: a complete turn followed by silence; the bot should answer fast.

Speech: Piper (the project's TTS, two speaking rates as two "voices") for the sentences; human
recordings from ../shared/data/speech (Speech Commands digits said in groups, OSR Harvard
sentences, LibriSpeech sentences) where they exist. Every clip goes through the phone line
(8 kHz mu-law) first.

Per policy: median and p95 wait after the true end of turn (stops and paused turns not cut),
the cut-off rate on paused turns, and the wait per pause length.

    python bench/turntaking.py --json            # all policies, ~2-4 min on 2 cores
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import emit_json, machine_info, percentile  # noqa: E402
from ivr.audio import read_audio, to_phone_ulaw, ulaw_to_pcm16  # noqa: E402
from ivr.call.endofturn import EndOfTurnPolicy  # noqa: E402
from ivr.call.items import Heard  # noqa: E402
from ivr.call.turntaking import Act, TurnTaker  # noqa: E402
from ivr.vad import EndpointConfig, FrameClassifier  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "speech"
FRAME = 160
PAUSES_MS = (300, 500, 700, 900)


@dataclass(frozen=True)
class Policy:
    name: str
    pause_s: float
    policy: EndOfTurnPolicy
    end_silence_s: float = 0.6
    take_back_s: float = 0.0
    """As the session's ``Services.take_back_s``: a caller who goes on this soon after the
    commit gets the turn back (the reply is cancelled or cleared, the words joined)."""

    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(end_silence_s=self.end_silence_s, pause_s=self.pause_s)


NO_MODEL = 0.0
POLICIES = [
    Policy("silence600", 0.6, EndOfTurnPolicy(early=False, lengthen=False)),
    Policy("main_punct400", 0.4, EndOfTurnPolicy(lengthen=False)),
    Policy("rules400_hold1400", 0.4, EndOfTurnPolicy(hold_s=1.4, model_hold_below=NO_MODEL)),
    Policy("rules250_hold1400", 0.25, EndOfTurnPolicy(hold_s=1.4, model_hold_below=NO_MODEL)),
    Policy("model400_hold1400", 0.4, EndOfTurnPolicy(hold_s=1.4)),
    Policy("model250_hold1400", 0.25, EndOfTurnPolicy(hold_s=1.4)),
    Policy("model200_hold1400", 0.2, EndOfTurnPolicy(hold_s=1.4)),
    Policy("rules250_hold1400_tb1000", 0.25, EndOfTurnPolicy(hold_s=1.4, model_hold_below=0.0),
           take_back_s=1.0),
    Policy("model250_hold1400_tb1000", 0.25, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model200_hold1400_tb1000", 0.2, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model150_hold1400_tb1000", 0.15, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model120_hold1400_tb1000", 0.12, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model120_hold1400_tb1000_end500", 0.12, EndOfTurnPolicy(hold_s=1.4),
           end_silence_s=0.5, take_back_s=1.0),
    Policy("model100_hold1400_tb1000", 0.10, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model080_hold1400_tb1000", 0.08, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model060_hold1400_tb1000", 0.06, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
    Policy("model040_hold1400_tb1000", 0.04, EndOfTurnPolicy(hold_s=1.4), take_back_s=1.0),
]
REPLY_MS = 150.0
"""Assumed server time from the commit to the reply's first audio (NLU + first TTS chunk on a
cached prompt; bench/latency.py measures it): a take-back after this was partly heard."""

# (first part, second part, kind, expect_digits): one turn with a pause between the parts.
PAUSED_TEXT = [
    ("I got a bill for", "twenty dollars I don't recognise.", "between_words", 1),
    ("I'm trying to reset", "my password.", "between_words", 1),
    ("I want to", "return my shoes.", "between_words", 1),
    ("Can you help me with", "a refund?", "between_words", 1),
    ("I need to speak", "to someone about my account.", "between_words", 1),
    ("I ordered a jacket last week and", "it still hasn't arrived.", "between_words", 1),
    ("My order number is", "4 5 6 7 8 9.", "before_number", 1),
    ("It's", "1 2 3 4 5 6.", "before_number", 6),
    ("4 5 6", "7 8 9.", "digit_groups", 6),
    ("2 0 1", "5 5 4.", "digit_groups", 6),
]
STOP_TEXT = [
    ("I want to return my shoes.", 1),
    ("Where is my order?", 1),
    ("Billing, please.", 1),
    ("I need to talk to someone about my bill.", 1),
    ("Cancel my order.", 1),
    ("I'd like to check the status of my order.", 1),
    ("4 5 6 7 8 9.", 6),
    ("Yes.", 1),
]


@dataclass
class Case:
    name: str
    kind: str  # "stop" or a pause kind
    audio: np.ndarray  # int16 8 kHz phone audio, speech only (silence is added by the run)
    expect_digits: int
    pause_ms: int = 0
    part2_start_s: float = 0.0  # where the caller goes on (paused turns; for the record)
    speech_end_s: float = 0.0  # where the caller is really done
    source: str = "piper"


@dataclass
class Result:
    policy: str
    case: str
    kind: str
    pause_ms: int
    source: str
    cut: bool
    wait_ms: float | None
    decodes: int = 0
    taken_back: int = 0
    reply_heard: int = 0
    """Take-backs that came after the reply started playing (the caller heard a bit of it)."""
    asr_ms: list[float] = field(default_factory=list)


def phone(audio: np.ndarray, rate: int) -> np.ndarray:
    return ulaw_to_pcm16(to_phone_ulaw(audio.astype(np.float32), rate))


def trim(pcm: np.ndarray) -> np.ndarray:
    """Cut leading/trailing silence (10 ms windows 30 dB under the loudest)."""
    win = 80
    n = pcm.size // win
    if n == 0:
        return pcm
    rms = np.sqrt(np.mean(pcm[: n * win].astype(np.float32).reshape(n, win) ** 2, axis=1))
    on = np.nonzero(rms > rms.max() * 0.03)[0]
    if on.size == 0:
        return pcm
    return pcm[on[0] * win : (on[-1] + 1) * win]


def join(parts: list[np.ndarray], gaps_s: list[float]) -> tuple[np.ndarray, list[float]]:
    out: list[np.ndarray] = []
    starts = []
    t = 0
    for i, p in enumerate(parts):
        starts.append(t / 8000)
        out.append(p)
        t += p.size
        if i < len(gaps_s):
            gap = np.zeros(int(gaps_s[i] * 8000), dtype=np.int16)
            out.append(gap)
            t += gap.size
    return np.concatenate(out), starts


def piper_cases(rates: tuple[float, ...]) -> list[Case]:
    from ivr.tts import Speaker, VoiceConfig

    cases = []
    for rate in rates:
        sp = Speaker(VoiceConfig(length_scale=rate))

        def say(text: str, sp: Any = sp) -> np.ndarray:
            return trim(ulaw_to_pcm16(sp.render(text, cache=False)))

        voice = f"piper{rate:g}"
        for i, (a, b, kind, digits) in enumerate(PAUSED_TEXT):
            pa, pb = say(a), say(b)
            for pause in PAUSES_MS:
                audio, starts = join([pa, pb], [pause / 1000])
                cases.append(Case(f"{voice}/p{i}/{pause}", kind, audio, digits, pause,
                                  starts[1], audio.size / 8000, voice))
        for i, (text, digits) in enumerate(STOP_TEXT):
            audio = say(text)
            cases.append(Case(f"{voice}/s{i}", "stop", audio, digits, 0, 0.0,
                              audio.size / 8000, voice))
    return cases


def human_cases(seed: int = 0) -> list[Case]:
    """Digits said in two groups by one speaker (Speech Commands), sentences (OSR, LibriSpeech)."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    sc = SHARED / "speech_commands_v001_subset" / "audio"
    names = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    if sc.exists():
        by_word = {n: sorted((sc / n).glob("*.wav")) for n in names}
        for k in range(6):
            words = [names[j] for j in rng.integers(0, 9, size=6)]
            clips = []
            for w in words:
                files = by_word[w]
                audio, rate = read_audio(files[k % len(files)])
                clips.append(trim(phone(audio, rate)))
            gaps = [0.12, 0.12]
            g1, _ = join(clips[:3], gaps)
            g2, _ = join(clips[3:], gaps)
            for pause in PAUSES_MS:
                audio, starts = join([g1, g2], [pause / 1000])
                cases.append(Case(f"human/digits{k}/{pause}", "digit_groups", audio, 6, pause,
                                  starts[1], audio.size / 8000, "speech_commands"))
            whole, _ = join([g1, g2], [0.12])
            cases.append(Case(f"human/digits{k}", "stop", whole, 6, 0, 0.0, whole.size / 8000,
                              "speech_commands"))
    for path in sorted((SHARED / "arm_mlek_samples" / "asr").glob("*.wav")):
        audio, rate = read_audio(path)
        pcm = trim(phone(audio, rate))
        cases.append(Case(f"human/{path.stem}", "stop", pcm, 1, 0, 0.0, pcm.size / 8000,
                          "librispeech"))
    osr = SHARED / "osr_8k" / "OSR_us_000_0034_8k.wav"
    if osr.exists():
        audio, rate = read_audio(osr)
        pcm = phone(audio, rate)
        # The recording is sentences separated by ~1 s pauses: take the first three.
        for j, (a, b) in enumerate(_sentences(pcm)[:3]):
            clip = trim(pcm[a:b])
            cases.append(Case(f"human/osr{j}", "stop", clip, 1, 0, 0.0, clip.size / 8000, "osr"))
    return cases


def _sentences(pcm: np.ndarray) -> list[tuple[int, int]]:
    win = 160
    n = pcm.size // win
    rms = np.sqrt(np.mean(pcm[: n * win].astype(np.float32).reshape(n, win) ** 2, axis=1))
    loud = rms > rms.max() * 0.05
    spans, start, quiet = [], None, 0
    for i, v in enumerate(loud):
        if v:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= 40:  # 800 ms of quiet ends a sentence
                spans.append((start * win, (i - quiet + 1) * win))
                start, quiet = None, 0
    return spans


class Asr:
    """Real Whisper (+ the completeness model, timed with it, as the session's worker runs
    both), cached by (case, samples): policies share identical decodes."""

    def __init__(self) -> None:
        from ivr.asr import AsrConfig, Transcriber
        from ivr.call.completeness import default_completeness

        self.t = Transcriber(AsrConfig())
        self.t.warm_up()
        self.model = default_completeness()
        self.cache: dict[tuple[str, int], tuple[str, float, float | None]] = {}

    def __call__(self, key: str, audio: np.ndarray) -> tuple[str, float, float | None]:
        k = (key, audio.size)
        if k not in self.cache:
            t0 = time.perf_counter()
            text = self.t.transcribe_phone(audio).text
            p = self.model(text) if self.model is not None and text else None
            self.cache[k] = (text, (time.perf_counter() - t0) * 1000, p)
        return self.cache[k]


def run_case(case: Case, pol: Policy, asr: Asr, tail_s: float = 3.0,
             fixed_asr_ms: float | None = None) -> Result:
    vad = FrameClassifier(2)
    tt = TurnTaker(pol.endpoint(), pol.policy)
    lead = np.zeros(FRAME * 10, dtype=np.int16)
    audio = np.concatenate([lead, case.audio, np.zeros(int(tail_s * 8000), dtype=np.int16)])
    offset = lead.size / 8000
    pending: list[tuple[int, Heard]] = []
    res = Result(pol.name, case.name, case.kind, case.pause_ms, case.source, False, None)
    held: tuple[float, np.ndarray] | None = None  # a commit that may still be taken back

    def final(committed: float) -> Result:
        # Cut: the bot took the turn before the caller had finished (also when the decode of
        # the first part came back while the second part was being said).
        if case.kind != "stop" and committed < case.speech_end_s:
            res.cut = True
        else:
            res.wait_ms = round((committed - case.speech_end_s) * 1000, 1)
        return res

    for i in range(audio.size // FRAME):
        t = (i + 1) * FRAME / 8000
        if held is not None and t - offset - held[0] > pol.take_back_s:
            return final(held[0])
        actions = []
        for due, heard in list(pending):
            if due <= i:
                pending.remove((due, heard))
                actions.append(tt.heard(heard, case.expect_digits))
        frame = audio[i * FRAME : (i + 1) * FRAME]
        actions.append(tt.feed(frame, vad.is_speech(frame), accepting=True))
        for a in actions:
            if a is None:
                continue
            if a.act is Act.TRANSCRIBE:
                assert a.audio is not None
                text, ms, p = asr(case.name, a.audio)
                if fixed_asr_ms is not None:
                    ms = fixed_asr_ms  # the policy's curve without this machine's load in it
                res.decodes += 1
                res.asr_ms.append(ms)
                uses_model = pol.policy.model_hold_below > 0 and not a.ended
                pending.append((i + max(1, math.ceil(ms / 20)),
                                Heard(0, a.seq, text, 1.0, "", ms, p if uses_model else None)))
            elif a.act is Act.COMMIT:
                if pol.take_back_s > 0 and a.audio is not None:
                    held = (t - offset, a.audio)
                else:
                    return final(t - offset)
            elif a.act is Act.STARTED and held is not None:
                res.taken_back += 1
                if (t - offset - held[0]) * 1000 > REPLY_MS:
                    res.reply_heard += 1
                tt.prepend(held[1])
                held = None
    return final(held[0]) if held is not None else res  # else never committed


def summarise(results: list[Result]) -> dict[str, Any]:
    paused = [r for r in results if r.kind != "stop"]
    waits = [r.wait_ms for r in results if r.wait_ms is not None]
    stop_waits = [r.wait_ms for r in results if r.kind == "stop" and r.wait_ms is not None]
    cut = sum(r.cut for r in paused)
    out: dict[str, Any] = {
        "turns": len(results),
        "paused_turns": len(paused),
        "cut_off": cut,
        "cut_off_rate": round(cut / len(paused), 4) if paused else None,
        "unanswered": sum(1 for r in results if not r.cut and r.wait_ms is None),
        "wait_p50_ms": percentile(waits, 50),
        "wait_p95_ms": percentile(waits, 95),
        "stop_wait_p50_ms": percentile(stop_waits, 50),
        "stop_wait_p95_ms": percentile(stop_waits, 95),
        "cut_by_pause_ms": {str(p): sum(r.cut for r in paused if r.pause_ms == p)
                            for p in PAUSES_MS},
        "cut_by_kind": {k: sum(r.cut for r in paused if r.kind == k)
                        for k in sorted({r.kind for r in paused})},
        "decodes_per_turn": round(sum(r.decodes for r in results) / max(1, len(results)), 2),
        "taken_back": sum(r.taken_back for r in results),
        "taken_back_after_reply_started": sum(r.reply_heard for r in results),
        "reply_heard_cases": [r.case for r in results if r.reply_heard][:40],
    }
    for key in ("wait_p50_ms", "wait_p95_ms", "stop_wait_p50_ms", "stop_wait_p95_ms"):
        if out[key] is not None:
            out[key] = round(out[key], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    ap.add_argument("--policies", default=",".join(p.name for p in POLICIES))
    ap.add_argument("--rates", default="1.0,1.15", help="Piper length scales (the voices)")
    ap.add_argument("--budget-s", type=float, default=540.0, help="stop starting policies after")
    ap.add_argument("--asr-ms", default="measured",
                    help="comma-separated decode delays to run every policy with: 'measured' "
                         "(each result arrives after the time the decode really took here, "
                         "which load inflates) and/or fixed milliseconds (e.g. 60, an idle "
                         "machine's decode + completeness model), for a load-independent curve")
    args = ap.parse_args(argv)
    started = time.monotonic()
    wanted = [p for p in POLICIES if p.name in args.policies.split(",")]
    cases = piper_cases(tuple(float(r) for r in args.rates.split(",") if r)) + human_cases()
    print(f"turntaking: {len(cases)} turns ({sum(c.kind != 'stop' for c in cases)} paused), "
          f"{len(wanted)} policies", flush=True)
    asr = Asr()
    out: dict[str, Any] = {"benchmark": "turntaking", "policies": {}, "turns": len(cases),
                           "load_before": round(os.getloadavg()[0], 2)}
    for pol in wanted:
        if time.monotonic() - started > args.budget_s:
            out["stopped"] = f"time budget before {pol.name}"
            break
        for mode in [m.strip() for m in args.asr_ms.split(",") if m.strip()]:
            fixed = None if mode == "measured" else float(mode)
            run_policy(pol, cases, asr, fixed, out)
    asr_ms = [ms for _, ms, _ in asr.cache.values()]
    out["asr_ms_p50"] = round(percentile(asr_ms, 50) or 0, 1)
    out["wait_note"] = ("ms from the end of the caller's speech to the end-of-turn commit, "
                        "including the decode still running then; first audio adds the engine "
                        "and TTS (bench/latency.py)")
    out["load_after"] = round(os.getloadavg()[0], 2)
    out["machine"] = machine_info()
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    if args.json:
        emit_json(out)
    return 0


def run_policy(pol: Policy, cases: list[Case], asr: Asr, fixed: float | None,
               out: dict[str, Any]) -> None:
    """One policy over every case; its summary goes to ``out["policies"]`` (a fixed decode
    delay is named in the key: ``name@60ms``)."""
    results = [run_case(c, pol, asr, fixed_asr_ms=fixed) for c in cases]
    s = summarise(results)
    s["config"] = {"pause_s": pol.pause_s, "end_silence_s": pol.end_silence_s,
                   "hold_s": pol.policy.hold_s, "early": pol.policy.early,
                   "lengthen": pol.policy.lengthen, "take_back_s": pol.take_back_s}
    s["cut_cases"] = [r.case for r in results if r.cut][:20]
    s["asr_ms"] = "measured" if fixed is None else fixed
    key = pol.name if fixed is None else f"{pol.name}@{fixed:g}ms"
    out["policies"][key] = s
    print(f"  {key:18s} wait p50 {s['wait_p50_ms']} p95 {s['wait_p95_ms']} ms "
          f"(stops p50 {s['stop_wait_p50_ms']} p95 {s['stop_wait_p95_ms']}); cut "
          f"{s['cut_off']}/{s['paused_turns']} {s['cut_by_pause_ms']}; taken back "
          f"{s['taken_back']} ({s['taken_back_after_reply_started']} after the reply "
          f"started); unanswered {s['unanswered']}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
