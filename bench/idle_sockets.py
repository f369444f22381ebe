"""CPU cost of idle calls: N live Media Streams sockets that send nothing, on the real app.

Why: a call's socket loop that wakes on a timer costs CPU even when nobody talks (issue 9 item 7:
the 10 ms receive timeout made 50 idle sockets cost ~30 % of a core). This builds the real Flask
app (flask-sock / simple-websocket, the real CallSession) with fake models (a silent speaker, no
ASR: nothing is transcribed) behind werkzeug's threaded server on loopback, opens N WebSockets with
a valid stream token, sends ``connected`` + ``start`` and then nothing, and measures this process's
CPU time (all threads) over a quiet window. The clients are sockets that never read, so the
figure is the server's.

    python bench/idle_sockets.py --calls 50 --window-s 5 --json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import websocket  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from bench._common import emit_json, machine_info  # noqa: E402
from ivr.app import MEDIA_PATH, create_app  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.dialog import AgentTarget, CallDialog, CallerInput, CallInfo, Directive, Listen, Say  # noqa: E402
from ivr.session import Services  # noqa: E402
from ivr.store import MemoryStore  # noqa: E402


class _Greeter:
    def start(self) -> list[Directive]:
        return [Say("Hello."), Listen(timeout_s=6.0)]

    def handle(self, event: CallerInput) -> list[Directive]:
        return [Say("Hello again."), Listen(timeout_s=6.0)]


class _Factory:
    default_group = "general"

    def new_call(self, info: CallInfo) -> CallDialog:
        return _Greeter()

    def agent_group(self, name: str) -> AgentTarget:
        return AgentTarget(name, "number", "+15550001111")

    def asr_vocabulary(self) -> tuple[str, ...]:
        return ()


class _SilentSpeaker:
    def render(self, text: str, *, cache: bool = True) -> bytes:
        return b"\xff" * 800

    def stream(self, text: str) -> Any:
        yield b"\xff" * 800


def _start_message(token: str, n: int) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": f"MZ{n}",
                       "start": {"accountSid": "AC1", "streamSid": f"MZ{n}", "callSid": f"CA{n}",
                                 "tracks": ["inbound"],
                                 "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                 "channels": 1},
                                 "customParameters": {"token": token}}})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--window-s", type=float, default=5.0, help="quiet window measured")
    ap.add_argument("--repeats", type=int, default=3, help="windows; the median is reported")
    ap.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = ap.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    factory = _Factory()
    services = Services(transcriber=None, speaker=_SilentSpeaker(),  # type: ignore[arg-type]
                        executor=ThreadPoolExecutor(max_workers=2), store=MemoryStore(),
                        plan=lambda: factory)
    app = create_app(Settings(dialplan=ROOT / "dialplans" / "shop.yaml", insecure_dev=True),
                     services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"ws://127.0.0.1:{server.server_port}{MEDIA_PATH}"
    sockets = []
    for n in range(args.calls):
        ws = websocket.create_connection(url, timeout=10)
        ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
        ws.send(_start_message(services.store.issue_token(f"CA{n}"), n))
        sockets.append(ws)
    time.sleep(1.5)  # greetings sent, every session now waits for the caller
    utils = []
    for _ in range(args.repeats):
        c0, t0 = _cpu(), time.monotonic()
        time.sleep(args.window_s)
        utils.append((_cpu() - c0) / (time.monotonic() - t0))
    util = statistics.median(utils)
    threads = threading.active_count()
    for ws in sockets:
        ws.close()
    server.shutdown()
    out = {"benchmark": "idle_sockets", "calls": args.calls, "window_s": args.window_s,
           "cpu_util": round(util, 4), "cpu_util_windows": [round(u, 4) for u in utils],
           "cpu_util_note": "process CPU seconds per wall second (1.0 = one core), median",
           "threads": threads, "machine": machine_info()}
    print(f"{args.calls} idle sockets: {util * 100:.1f}% of a core "
          f"(windows {[round(u * 100, 1) for u in utils]})")
    if args.json:
        emit_json(out)
    return 0


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


if __name__ == "__main__":
    raise SystemExit(main())
