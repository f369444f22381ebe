"""CPU seconds per caller turn and per call-second, by component: what a call costs the server.

Why: the capacity benchmark's wall-clock ramp is noisy on a shared machine, and when capacity
drops it cannot say which part grew. CPU time (``time.process_time``: every thread of this
process, CTranslate2's and onnxruntime's native pools included) is close to load-independent, so
this measures each component of one call on its own, single-threaded, in one process:

* ASR: one decode of each fixture utterance (the clips the capacity benchmark's callers say, plus
  human recordings) with no hints, with the plan's hints at the old 200-character budget, and at
  the current budget (``ivr.asr.PROMPT_CHAR_BUDGET``); the prompt's token count for each;
* decodes per turn: the real turn-taker (``ivr.call.turntaking``, webrtcvad) over the same clips
  followed by silence, counting the transcriptions it asks for, speculative and final, for the
  current ``EndpointConfig.pause_s`` and with speculation off (pause >= end silence);
* the completeness model (``ivr.call.completeness``) per speculative transcript;
* per frame (50 a call-second): mu-law decode + wire parse of a Twilio media message, webrtcvad,
  the turn-taker, Silero (``NeuralVad``, only while a prompt plays);
* the engine (``dialog.handle``) on a caller utterance, and TTS: a cached prompt and the first
  chunk of an uncached sentence.

It adds them up to CPU per turn and per call-second and a naive ceiling on concurrent calls
(cores / CPU per call-second). Load on the machine inflates CPU time only a little (caches, SMT);
``uptime`` is reported beside the figures.

Run: ``python bench/cpu_turn.py [--json] [--repeats N]``; progress on stderr, with ``--json``
the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import DIALPLAN, FIXTURES, emit_json, machine_info, median  # noqa: E402
from ivr.audio import read_audio, to_phone_ulaw, ulaw_to_pcm16  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "speech"
CLIPS = [
    ("off_topic", SHARED / "arm_mlek_samples" / "asr" / "i_tell_you.wav"),
    ("off_topic", FIXTURES / "off_topic" / "returns.wav"),
    ("self_service_goodbye", FIXTURES / "self_service_goodbye" / "hours.wav"),
    ("self_service_goodbye", FIXTURES / "self_service_goodbye" / "goodbye.wav"),
]
OLD_BUDGET = 200
FRAME = 160


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Median process CPU milliseconds of ``fn()`` over ``repeats`` runs."""
    out = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        out.append((time.process_time() - t0) * 1000)
    return float(median(out) or 0.0)


def phone_clip(path: Path) -> np.ndarray:
    audio, rate = read_audio(path)
    return ulaw_to_pcm16(to_phone_ulaw(audio.astype(np.float32), rate))


def plan_hints() -> tuple[tuple[str, ...], Any]:
    """The hints the session passes at the plan's first speech Listen: the Listen's own hints
    plus the plan vocabulary (as ``CallSession._transcribe`` builds them)."""
    from ivr.dialog import CallInfo, Listen
    from ivr.dialplan import load_dialplan
    from ivr.engine import build_factory

    factory = build_factory(load_dialplan(DIALPLAN))
    dialog = factory.new_call(CallInfo("CAbench", "+15550100", "+15550199"))
    listens = [d for d in dialog.start() if isinstance(d, Listen)]
    hints = (listens[-1].hints if listens else ()) + factory.asr_vocabulary()
    return hints, (factory, dialog)


def measure_asr(clips: list[tuple[str, np.ndarray]], hints: tuple[str, ...],
                repeats: int) -> dict[str, Any]:
    import ivr.asr as asr

    t = asr.Transcriber(asr.AsrConfig())
    t.warm_up()
    budgets = {"no_hints": None, f"hints_{OLD_BUDGET}": OLD_BUDGET,
               f"hints_{asr.PROMPT_CHAR_BUDGET}": asr.PROMPT_CHAR_BUDGET}
    out: dict[str, Any] = {"current_budget": asr.PROMPT_CHAR_BUDGET}
    for label, budget in budgets.items():
        use = () if budget is None else asr.fit_hints(hints, budget)
        tokens = len(t._prompt_tokens(use))
        per_clip = []
        texts = []
        for _, pcm in clips:
            per_clip.append(cpu_ms(lambda pcm=pcm, use=use: t.transcribe_phone(pcm, use),
                                   repeats))
            texts.append(t.transcribe_phone(pcm, use).text)
        out[label] = {"prompt_tokens": tokens, "prompt_chars": len(asr._prompt(use) or ""),
                      "cpu_ms_per_decode": round(float(np.mean(per_clip)), 1),
                      "cpu_ms_per_clip": [round(x, 1) for x in per_clip], "texts": texts}
        say(f"  asr {label:10s} prompt {tokens:3d} tokens: {np.mean(per_clip):6.1f} ms CPU "
            f"per decode {[round(x) for x in per_clip]}")
    return out


def decodes_per_turn(clips: list[tuple[str, np.ndarray]], pause_s: float | None) -> float:
    """Transcriptions the real turn-taker asks for per utterance (results arrive 3 frames
    later, as a fast decode would; the verdict never ends a turn early here, so every pause
    that the caller talks through costs its decode)."""
    from ivr.call.endofturn import EndOfTurnPolicy
    from ivr.call.items import Heard
    from ivr.call.turntaking import Act, TurnTaker
    from ivr.vad import EndpointConfig, FrameClassifier

    total = 0
    for _, pcm in clips:
        cfg = EndpointConfig() if pause_s is None else EndpointConfig(pause_s=pause_s)
        tt = TurnTaker(cfg, EndOfTurnPolicy(early=False))
        vad = FrameClassifier(2)
        audio = np.concatenate([np.zeros(1600, np.int16), pcm, np.zeros(16000, np.int16)])
        pending: list[tuple[int, int]] = []
        for i in range(audio.size // FRAME):
            for due, seq in list(pending):
                if due <= i:
                    pending.remove((due, seq))
                    tt.heard(Heard(0, seq, "and", 0.9, "", 0.0, None))
            frame = audio[i * FRAME:(i + 1) * FRAME]
            a = tt.feed(frame, vad.is_speech(frame), accepting=True)
            if a is not None and a.act is Act.TRANSCRIBE:
                total += 1
                pending.append((i + 3, a.seq))
            if a is not None and a.act is Act.COMMIT:
                break
    return total / len(clips)


def measure_frames(pcm: np.ndarray, repeats: int) -> dict[str, float]:
    from ivr import wire
    from ivr.call.turntaking import TurnTaker
    from ivr.vad import FrameClassifier, NeuralVad

    frames = [pcm[i:i + FRAME] for i in range(0, pcm.size - FRAME, FRAME)][:200]
    ulaw = [bytes(to_phone_ulaw(f.astype(np.float32) / 32768.0, 8000)) for f in frames]
    msgs = [json.dumps({"event": "media", "sequenceNumber": str(i), "streamSid": "MZ1",
                        "media": {"track": "inbound", "chunk": str(i), "timestamp": str(i * 20),
                                  "payload": base64.b64encode(u).decode()}})
            for i, u in enumerate(ulaw)]
    vad = FrameClassifier(2)
    neural = NeuralVad()

    def per_frame(fn: Callable[[int], Any]) -> float:
        def run() -> None:
            for i in range(len(frames)):
                fn(i)
        return cpu_ms(run, repeats) / len(frames)

    tt = TurnTaker()
    from ivr.call.bargein import BargeIn

    barge = BargeIn()
    for _ in range(100):  # the echo estimate has its history, as after 2 s of a prompt
        barge.counts(False, 300.0, 2000.0)
    out = {
        "wire_parse_and_ulaw": per_frame(
            lambda i: ulaw_to_pcm16(wire.parse_message(msgs[i]).payload)),  # type: ignore[union-attr]
        "webrtcvad": per_frame(lambda i: vad.is_speech(frames[i])),
        "turntaker": per_frame(lambda i: tt.feed(frames[i], i % 3 == 0, True)),
        "silero_while_playing": per_frame(lambda i: neural.feed(frames[i])),
        "bargein_counts_while_playing": per_frame(
            lambda i: barge.counts(False, 300.0, 2000.0)),
        "rms_while_playing": per_frame(
            lambda i: float(np.sqrt(np.mean(frames[i].astype(np.float32) ** 2)))),
    }
    for k, v in out.items():
        say(f"  frame {k:22s} {v * 1000:7.1f} us CPU")
    return {k: round(v, 4) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--playing-share", type=float, default=0.5,
                    help="fraction of call time our prompt plays (Silero runs then)")
    args = ap.parse_args(argv)
    started = time.monotonic()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    say(f"cpu_turn: load {os.getloadavg()[0]:.2f}; loading models...")
    clips = [(name, phone_clip(p)) for name, p in CLIPS if p.exists()]
    hints, (factory, dialog) = plan_hints()
    out: dict[str, Any] = {"benchmark": "cpu_turn", "clips": len(clips),
                           "clip_s": [round(c.size / 8000, 2) for _, c in clips],
                           "load_before": round(os.getloadavg()[0], 2)}
    out["asr"] = measure_asr(clips, hints, args.repeats)

    from ivr.vad import EndpointConfig

    cfg = EndpointConfig()
    out["decodes_per_turn"] = {f"pause_{cfg.pause_s:g}": round(decodes_per_turn(clips, None), 2),
                               "pause_0.4": round(decodes_per_turn(clips, 0.4), 2),
                               "no_speculation": round(decodes_per_turn(clips, 0.6), 2)}
    say(f"  decodes per turn: {out['decodes_per_turn']}")

    from ivr.call.completeness import default_completeness

    model = default_completeness()
    texts = out["asr"]["no_hints"]["texts"]
    if model is not None:
        model(texts[0])
        out["completeness_cpu_ms"] = round(
            float(np.mean([cpu_ms(lambda tx=tx: model(tx), args.repeats) for tx in texts])), 2)
        say(f"  completeness model {out['completeness_cpu_ms']} ms CPU per transcript")

    from ivr.dialog import CallerInput
    from ivr.tts import Speaker, VoiceConfig

    def engine_turn(text: str) -> None:
        d = factory.new_call(__import__("ivr.dialog", fromlist=["CallInfo"]).CallInfo(
            "CAbench2", "+15550100", "+15550199"))
        d.start()
        d.handle(CallerInput("speech", text=text, confidence=0.9))

    engine_turn(texts[1])
    # Each run a new text: the embedder remembers recent texts, a repeat would be free.
    fresh = iter(range(10**6))
    out["engine_cpu_ms"] = round(float(np.mean(
        [cpu_ms(lambda tx=tx: engine_turn(f"{tx} {next(fresh)}"), args.repeats)
         for tx in texts if tx])), 1)
    say(f"  engine turn (new call + start + handle) {out['engine_cpu_ms']} ms CPU")
    speaker = Speaker(VoiceConfig(cache_dir=""))
    prompt = "Sorry, I didn't catch that. What can I help you with?"
    speaker.render(prompt)
    out["tts_cached_prompt_cpu_ms"] = round(cpu_ms(lambda: speaker.render(prompt), 5), 3)
    reply = "You can say, for example, damaged item."
    out["tts_dynamic_reply_cpu_ms"] = {}
    for threads, label in ((0, "onnxruntime_default"), (1, "one_thread_no_spin")):
        sp = Speaker(VoiceConfig(cache_dir="", threads=threads))
        b"".join(sp.stream("Warming up.", cache=False))
        wall0 = time.perf_counter()
        ms = cpu_ms(lambda sp=sp: b"".join(sp.stream(reply, cache=False)), args.repeats)
        out["tts_dynamic_reply_cpu_ms"][label] = {
            "cpu_ms": round(ms, 1),
            "wall_ms": round((time.perf_counter() - wall0) * 1000 / args.repeats, 1)}
    b"".join(speaker.stream(reply))
    out["tts_dynamic_reply_cpu_ms"]["repeat_from_memory"] = {
        "cpu_ms": round(cpu_ms(lambda: b"".join(speaker.stream(reply)), 5), 3)}
    say(f"  tts cached prompt {out['tts_cached_prompt_cpu_ms']} ms; dynamic reply "
        f"{out['tts_dynamic_reply_cpu_ms']}")
    out["frame_cpu_ms"] = measure_frames(np.concatenate([c for _, c in clips]), args.repeats)

    # Totals: a turn = its decodes (+ the model on the speculative ones) + the engine; a
    # call-second = 50 frames (Silero while playing).
    f = out["frame_cpu_ms"]
    per_frame = (f["wire_parse_and_ulaw"] + f["webrtcvad"] + f["turntaker"]
                 + args.playing_share * (f["silero_while_playing"] + f["rms_while_playing"]
                                         + f["bargein_counts_while_playing"]))
    out["frame_cpu_ms_per_call_second"] = round(50 * per_frame, 2)
    totals = {}
    for label in ("no_hints", f"hints_{OLD_BUDGET}", f"hints_{out['asr']['current_budget']}"):
        dec = out["asr"][label]["cpu_ms_per_decode"]
        for dlabel, n in out["decodes_per_turn"].items():
            spec = max(0.0, n - 1)
            turn = n * dec + spec * out.get("completeness_cpu_ms", 0.0) + out["engine_cpu_ms"]
            totals[f"{label}/{dlabel}"] = round(turn, 1)
    out["turn_cpu_ms"] = totals
    out["load_after"] = round(os.getloadavg()[0], 2)
    out["machine"] = machine_info()
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    for k, v in totals.items():
        print(f"turn CPU {k:36s} {v:7.1f} ms")
    print(f"frames: {out['frame_cpu_ms_per_call_second']} ms CPU per call-second; load "
          f"{out['load_before']} -> {out['load_after']}")
    if args.json:
        emit_json(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
