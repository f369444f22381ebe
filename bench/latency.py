"""End-to-end turn latency of one call at a time, as a caller on a real phone line hears it.

Why this benchmark: the number a caller feels is "I stopped talking -> the bot starts answering".
It is made of the endpointer's trailing-silence wait (configuration, not compute), ASR, the
dialplan engine (NLU), TTS to the first chunk, and two socket hops. This measures the whole and
splits it, on an idle server, so a regression in any part shows up with its name on it.

How: ``ivr serve`` on ``dialplans/shop.yaml`` (via ``LocalServer``: gunicorn, real Whisper and
Piper, signed requests), and every fixture in ``tests/fixtures`` with speech turns played through
the real WebSocket by ``ivr.caller.play_call`` at real-time pace (``speed=1.0``), one call at a
time, ``--repeats`` times. A caller hang-up is appended after the bot starts answering the last
turn (the example plan is still being finished and some fixtures otherwise sit in no-input loops).

Figures per caller speech turn:
  * ``turn_ms``  -- the player's ``CallReport`` latency: wall time from sending the frame that
    holds the end of the caller's speech to receiving the first bot media message;
  * ``server_turn_ms``, ``asr_ms``, ``nlu_ms`` -- the server's call record (``GET /calls/<sid>``
    ``timings``), which starts its clock when the endpointer fires;
  * ``endpoint_ms`` -- the configured end silence (the longest the server waits);
    ``endpoint_ms_measured_p50`` is the median of ``turn_ms - server_turn_ms``: the wait the
    caller actually got (shorter when the adaptive end of turn fires on words that sound
    complete; speculative ASR runs inside it) + VAD frame alignment + both socket hops;
  * ``tts_first_audio_ms_p50`` -- derived: ``server_turn_ms - asr_ms - nlu_ms``; for the
    ``asr_overlapped_turns`` (ASR ran speculatively before the turn clock started) only
    ``nlu_ms`` is taken off, an upper bound. The engine's replies are mostly static prompts
    rendered at start-up, so this is mostly a cache hit + the worker -> socket-thread hand-off;
    ``tts_direct_first_chunk_ms_p50`` -- measured: ``ivr.tts.Speaker.stream`` on the same reply
    texts, uncached, in this process after the server stopped (what a dynamic reply costs).

Run: ``python bench/latency.py [--json] [--repeats N] [--end-silence S]``; with ``--json`` the
last stdout line is one JSON object (keys: see bench/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DIALPLAN,
    CallFigures,
    TurnFigures,
    analyse_call,
    emit_json,
    install_line_probe,
    load_bench_fixture,
    machine_info,
    median,
    percentile,
    rnd,
    speech_fixture_names,
    take_probe,
)

from ivr.caller import play_call  # noqa: E402
from ivr.caller.local_server import LocalServer  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.vad import EndpointConfig  # noqa: E402


def play(srv: LocalServer, name: str, speed: float) -> CallFigures:
    """One call; the hang-up comes 1 s into the bot's answer to the last turn (enough to have
    the first-audio time, and it saves the rest of the reply's playback)."""
    fixture = load_bench_fixture(name, "prompt_start", 1.0)
    report = play_call(fixture, srv.url, srv.token, speed=speed, timeout_s=180)
    return analyse_call(report, take_probe(report.call_sid))


def direct_tts(texts: list[str]) -> dict[str, Any]:
    """Time Piper's first sentence and the whole text, uncached, for each distinct reply.

    Run after the server stopped so it has both cores, like one turn on an idle server has.
    """
    from ivr.tts import Speaker, VoiceConfig

    speaker = Speaker(VoiceConfig(cache_dir=""))
    next(speaker.stream("Warming up."))  # first run pays onnxruntime's lazy initialisation
    first_ms, rtf = [], []
    for text in dict.fromkeys(texts):
        t0 = time.perf_counter()
        audio_s = 0.0
        first = None
        for chunk in speaker.stream(text):
            if first is None:
                first = (time.perf_counter() - t0) * 1000
            audio_s += len(chunk) / 8000
        total = time.perf_counter() - t0
        if first is not None:
            first_ms.append(first)
            rtf.append(total / max(audio_s, 1e-6))
    return {"tts_direct_first_chunk_ms_p50": rnd(median(first_ms)),
            "tts_direct_first_chunk_ms_max": rnd(max(first_ms, default=None)),
            "tts_direct_rtf_p50": rnd(median(rtf), 3), "tts_direct_texts": len(first_ms)}


def summarise(turns: list[TurnFigures]) -> dict[str, Any]:
    lat = [t.turn_ms for t in turns if t.turn_ms is not None]
    paired = [t for t in turns if t.server_turn_ms is not None]
    return {
        "n_turns": len(turns),
        "n_turns_answered": len(lat),
        "n_turns_talked_over": sum(t.talked_over for t in turns),
        "turn_ms_p50": rnd(percentile(lat, 50)),
        "turn_ms_p95": rnd(percentile(lat, 95)),
        "turn_ms_max": rnd(max(lat, default=None)),
        "endpoint_ms_measured_p50": rnd(median(t.endpoint_ms for t in paired
                                                if t.endpoint_ms is not None)),
        "server_turn_ms_p50": rnd(median(t.server_turn_ms for t in paired
                                          if t.server_turn_ms is not None)),
        "server_turn_ms_p95": rnd(percentile([t.server_turn_ms for t in paired
                                              if t.server_turn_ms is not None], 95)),
        "asr_ms_p50": rnd(median(t.asr_ms for t in paired if t.asr_ms is not None)),
        "asr_ms_p95": rnd(percentile([t.asr_ms for t in paired if t.asr_ms is not None], 95)),
        "nlu_ms_p50": rnd(median(t.nlu_ms for t in paired if t.nlu_ms is not None)),
        "tts_first_audio_ms_p50": rnd(median(t.tts_first_ms for t in paired
                                              if t.tts_first_ms is not None)),
        "tts_first_audio_n": sum(t.tts_first_ms is not None for t in paired),
        "asr_overlapped_turns": sum(t.asr_overlapped for t in paired),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    ap.add_argument("--repeats", type=int, default=4, help="times each fixture is played")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="stop repeating when another round would end after this many seconds")
    ap.add_argument("--fixtures", default="",
                    help="comma-separated fixture names (default: all with speech turns)")
    ap.add_argument("--end-silence", type=float, default=None,
                    help="passed to `ivr serve --end-silence` (seconds)")
    ap.add_argument("--speed", type=float, default=1.0,
                    help="pace (1.0 = real time; anything else is for debugging this script)")
    ap.add_argument("--no-direct-tts", action="store_true", help="skip the direct Piper timing")
    args = ap.parse_args(argv)

    started = time.monotonic()
    install_line_probe()
    names = [n for n in args.fixtures.split(",") if n] or speech_fixture_names()
    end_silence = (args.end_silence if args.end_silence is not None
                   else float(Settings.model_fields["end_silence_s"].default))
    pause_s = getattr(EndpointConfig(), "pause_s", None)
    extra = ["--end-silence", str(args.end_silence)] if args.end_silence is not None else []
    print(f"latency: fixtures {', '.join(names)} x{args.repeats}, real time x{args.speed:g}, "
          f"end silence {end_silence:g} s; starting ivr serve...", flush=True)
    calls: list[CallFigures] = []
    with LocalServer(DIALPLAN, extra, env={"IVR_LOG_LEVEL": "WARNING"}) as srv:
        print(f"  server up in {time.monotonic() - started:.0f} s; warm-up call "
              "(not counted)", flush=True)
        play(srv, names[0], 2.0)
        print(f"  {'fixture':<22}{'call s':>7}  turn ms (player)  server/asr/nlu ms", flush=True)
        for rep in range(args.repeats):
            for name in names:
                cf = play(srv, name, args.speed)
                calls.append(cf)
                turns = "  ".join(
                    f"{'-' if t.turn_ms is None else f'{t.turn_ms:.0f}'}"
                    f" ({'-' if t.server_turn_ms is None else f'{t.server_turn_ms:.0f}'}/"
                    f"{'-' if t.asr_ms is None else f'{t.asr_ms:.0f}'}/"
                    f"{'-' if t.nlu_ms is None else f'{t.nlu_ms:.0f}'})"
                    for t in cf.turns)
                print(f"  {name:<22}{cf.duration_s:>7.1f}  {turns}", flush=True)
                for p in cf.problems:
                    print(f"      note: {p}", flush=True)
            elapsed = time.monotonic() - started
            print(f"  -- repeat {rep + 1}/{args.repeats} done at {elapsed:.0f} s", flush=True)
            # Another round must fit the time budget (a fresh-clone run stays under 10 minutes).
            if elapsed + elapsed / (rep + 1) > args.budget_s:
                print(f"  -- stopping: another repeat would pass --budget-s {args.budget_s:.0f}",
                      flush=True)
                break
    turns = [t for c in calls for t in c.turns]
    result: dict[str, Any] = {"benchmark": "latency", **summarise(turns),
                              "endpoint_ms": round(end_silence * 1000, 1),
                              "pause_ms": None if pause_s is None else round(pause_s * 1000, 1),
                              "tts_first_audio_source": "derived: server turn_ms - asr_ms - nlu_ms "
                              "(asr_ms not subtracted when it ran speculatively)",
                              "n_calls": len(calls), "speed": args.speed}
    if not args.no_direct_tts:
        result.update(direct_tts([r for c in calls for r in c.first_replies]))
    result["per_fixture"] = {
        name: {k: v for k, v in summarise([t for t in turns if t.fixture == name]).items()
               if k in ("n_turns", "turn_ms_p50", "turn_ms_p95", "server_turn_ms_p50",
                        "asr_ms_p50", "nlu_ms_p50")}
        for name in names
    }
    result["problems"] = sorted({f"{c.fixture}: {p}" for c in calls for p in c.problems})
    result["gaps_heard"] = sum(len(c.gaps) for c in calls)
    result["client_send_lag_ms_max"] = rnd(max((c.send_lag_ms_max for c in calls), default=None))
    result["machine"] = machine_info()
    result["elapsed_s"] = round(time.monotonic() - started, 1)

    print()
    print(f"{'per caller speech turn':<34}{'p50':>9}{'p95':>9}")
    rows = [("turn_ms (speech end -> 1st audio)", "turn_ms_p50", "turn_ms_p95"),
            ("server turn_ms", "server_turn_ms_p50", "server_turn_ms_p95"),
            ("asr_ms", "asr_ms_p50", "asr_ms_p95"),
            ("nlu_ms", "nlu_ms_p50", None),
            ("tts first audio (derived)", "tts_first_audio_ms_p50", None),
            ("wait until turn end (measured)", "endpoint_ms_measured_p50", None),
            ("tts first chunk (direct, uncached)", "tts_direct_first_chunk_ms_p50", None)]
    for label, k50, k95 in rows:
        v50 = result.get(k50)
        v95 = result.get(k95) if k95 else None
        print(f"{label:<34}{'-' if v50 is None else v50:>9}{'' if v95 is None else v95:>9}")
    print(f"turns {result['n_turns']} ({result['n_turns_answered']} answered) in "
          f"{result['n_calls']} calls; configured end silence {result['endpoint_ms']:.0f} ms "
          f"(speculative ASR at a {result['pause_ms']} ms pause; overlapped in "
          f"{result['asr_overlapped_turns']} turns); "
          f"{result['machine']['cpu_count']} CPUs, {result['machine']['platform']}; "
          f"{result['elapsed_s']:.0f} s")
    for p in result["problems"]:
        print(f"  note: {p}")
    if args.json:
        emit_json(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
