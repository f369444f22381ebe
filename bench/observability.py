"""What metrics and call-bound logging add to a call (ivr.observability), in microseconds.

    python bench/observability.py [--json] [--n 2000]

Figures (medians over ``--n`` repetitions, in-process values as in a test; under ``ivr serve``
values are memory-mapped files, measured too with ``--multiprocess``):

* record_us: feeding one finished call's record (6 caller turns with timings) to the metrics,
  once per call, on the socket thread after the call has ended.
* submit_overhead_us: extra cost of one model-pool submission through ``InstrumentedExecutor``
  (queue-depth gauge + log context copy) over a bare ThreadPoolExecutor, a few per turn.
* frame_bound_us: ``CallBindingSocket.receive`` per media frame once the call is bound (every
  frame of a call pays it), against the bare socket.
* refusal_us: counting one admission refusal.

Runs in a few seconds; bounded by ``--n``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from _common import emit_json, machine_info  # noqa: E402


def timed(fn: Callable[[], object], n: int) -> float:
    """Median microseconds of ``fn()`` over ``n`` runs."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


class _Socket:
    def __init__(self, frame: str) -> None:
        self.frame = frame

    def receive(self, timeout: float | None = None) -> str:
        return self.frame

    def send(self, data: str) -> None:
        pass

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--multiprocess", action="store_true",
                    help="values in PROMETHEUS_MULTIPROC_DIR files, as under ivr serve")
    args = ap.parse_args()
    n = max(10, min(args.n, 100_000))
    if args.multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-bench-mp-")

    from ivr import observability as o
    from ivr.store import CallRecord, MemoryStore, Turn

    if args.multiprocess:
        o.prepare_multiprocess_dir()
    store = MemoryStore()
    record = CallRecord("CA" + "0" * 32, "+15550001234", "+15550009999")
    for i in range(6):
        record.turns += [Turn("bot", "Prompt.", "say", i * 5.0),
                         Turn("caller", "words", "speech", i * 5.0 + 2)]
        record.timings.append({"turn_ms": 480.0, "asr_ms": 45.0, "nlu_ms": 5.0})
    record.outcome = "hangup"

    pool = ThreadPoolExecutor(max_workers=1)
    inst = o.InstrumentedExecutor(ThreadPoolExecutor(max_workers=1))
    bare_submit = timed(lambda: pool.submit(int).result(), n)
    inst_submit = timed(lambda: inst.submit(int).result(), n)

    frame = json.dumps({"event": "media", "streamSid": "MZ1",
                        "media": {"track": "inbound", "chunk": "1", "timestamp": "20",
                                  "payload": base64.b64encode(b"\xff" * 160).decode()}})
    bare = _Socket(frame)
    bound = o.CallBindingSocket(_Socket(frame))
    bound._bound = True  # measuring the steady state of a call in progress
    frame_bare = timed(lambda: bare.receive(0.01), n)
    frame_bound = timed(lambda: bound.receive(0.01), n)

    result = {
        "record_us": round(timed(lambda: o.record_finished(record, store), n), 1),
        "submit_overhead_us": round(inst_submit - bare_submit, 1),
        "submit_bare_us": round(bare_submit, 1),
        "frame_bound_us": round(frame_bound - frame_bare, 2),
        "refusal_us": round(timed(lambda: o.admission_refused("busy", "general"), n), 1),
        "n": n,
        "multiprocess": args.multiprocess,
        "machine": machine_info(),
    }
    if args.json:
        emit_json(result)
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
