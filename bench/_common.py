"""Shared helpers for the end-to-end benchmarks (``latency.py``, ``capacity.py``).

Why a separate module: both benchmarks drive the *real* server through the *real* player
(``ivr.caller.play_call``), and both need things the player does not expose -- when each bot
message arrived relative to the simulated phone line, and how far the caller's own frame pacing
slipped. Those are collected here by subclassing the player's line object (installed with
:func:`install_line_probe`), so ``ivr/caller`` itself stays untouched and the measured call is
byte-for-byte the call the tests play.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.audio import PHONE_RATE  # noqa: E402
from ivr.caller import CallReport, Fixture, parse_fixture  # noqa: E402
from ivr.caller import player as _player  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
DIALPLAN = ROOT / "dialplans" / "shop.yaml"
SAMPLES_PER_MS = PHONE_RATE / 1000
TURN_SLACK = 3 * 160
"""The server stamps a turn with the stream time *after* the frame it just processed, the line
stamps arrivals with the start of the current slot: the server's turn time can lead by a frame."""


# ---------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no data.

    Kept dependency-free and explicit because p95 over 10-40 turns is what the capacity verdict
    hangs on, so the method must be stated, not implied.
    """
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    if xs[hi] == xs[lo] or math.isinf(xs[hi]):  # inf marks a failed turn: it stays inf
        return xs[hi] if pos > lo else xs[lo]
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def rnd(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def median(values: Iterable[float]) -> float | None:
    xs = list(values)
    return statistics.median(xs) if xs else None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: they mean nothing without the core count."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import psutil

        info["mem_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
        info["cpu_count_physical"] = psutil.cpu_count(logical=False)
    except ImportError:  # psutil is a dev dependency; the machine line still prints
        pass
    return info


def emit_json(data: dict[str, Any]) -> None:
    """The contract with tooling: with ``--json`` the LAST stdout line is one JSON object."""
    sys.stdout.flush()
    print(json.dumps(data, separators=(",", ":")), flush=True)


# ---------------------------------------------------------------------- fixtures


def load_bench_fixture(name: str, hangup_after: str, hangup_delay_s: float) -> Fixture:
    """A test fixture with a caller hang-up appended and its outcome expectation dropped.

    Why: the benchmarks measure turns, not outcomes, and the example dialplan is still being
    finished -- several fixtures currently fall into no-input reprompt loops after their last
    turn, which would add up to 40 s of dead air per call to the run time. Hanging up once the
    bot's reply to the last turn has started (``prompt_start``) or finished (``prompt_end``)
    keeps every measured turn identical and the run short. Transcript expectations are kept so
    the report can still say whether the server heard the caller.
    """
    path = FIXTURES / name / "call.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    turns = [t for t in data["turns"] if "hangup" not in t]
    turns.append({"hangup": True, "after": hangup_after, "delay_s": hangup_delay_s,
                  "wait_s": 60.0})
    data["turns"] = turns
    expect = dict(data.get("expect") or {})
    expect.pop("outcome", None)
    data["expect"] = expect
    return parse_fixture(data, path.parent, str(path))


def speech_fixture_names() -> list[str]:
    """Every fixture folder with at least one speech turn (scripted, not raw recordings)."""
    names = []
    for p in sorted(FIXTURES.iterdir()):
        f = p / "call.yaml"
        if not f.is_file():
            continue
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        if any(isinstance(t, dict) and "audio" in t for t in data.get("turns") or []):
            names.append(p.name)
    return names


# ---------------------------------------------------------------------- the line probe


@dataclass(slots=True)
class LineEvent:
    """One server message as the caller's line saw it.

    ``now``: stream time (samples) at arrival; ``queued_end``: where the bot audio already queued
    would have finished playing, *before* this message -- ``queued_end <= now`` means the caller
    was hearing silence when the message arrived.
    """

    wall: float
    kind: str  # media | mark | clear
    now: int
    queued_end: int
    nbytes: int = 0


@dataclass(slots=True)
class LineProbe:
    """Everything recorded for one call, keyed by CallSid in :data:`PROBES`."""

    events: list[LineEvent] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)


PROBES: dict[str, LineProbe] = {}
_PROBES_LOCK = threading.Lock()


class _ProbedLine(_player._Line):
    """The player's line plus arrival bookkeeping; behaviour is unchanged.

    Two measurements: (1) every server message is stamped with the line's stream time and the
    playback queue's end *before* it is applied, so an underrun (the caller's playback caught up
    with what was received) is visible afterwards; (2) each caller frame's wall time is compared
    with its ideal slot, so the report can say whether the *client* was starved of CPU (which
    would make the server look worse than it is).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = LineProbe()
        with _PROBES_LOCK:
            PROBES[self.call_sid] = self.probe
        tick = self.script.tick
        t0: list[float] = []
        slot_s = 160 / PHONE_RATE / self.speed

        def timed_tick(now: int, line: Any) -> Any:
            wall = time.monotonic()
            if not t0:
                t0.append(wall)
            self.probe.send_lag_ms.append((wall - t0[0] - now / 160 * slot_s) * 1000)
            return tick(now, line)

        self.script.tick = timed_tick  # type: ignore[method-assign]

    def _on_message(self, raw: str) -> None:
        kind = ""
        nbytes = 0
        try:
            msg = json.loads(raw)
            kind = str(msg.get("event", ""))
            if kind == "media":
                nbytes = len(msg["media"]["payload"]) * 3 // 4
        except (ValueError, AttributeError, KeyError, TypeError):
            pass  # the player reports malformed messages itself
        with self.lock:
            now, queued_end = self.now, self.playback.end
        super()._on_message(raw)
        if kind in ("media", "mark", "clear"):
            self.probe.events.append(LineEvent(time.monotonic(), kind, now, queued_end, nbytes))


def install_line_probe() -> None:
    """Make ``play_call`` use the probed line (idempotent; per process)."""
    _player._Line = _ProbedLine  # type: ignore[misc]


def take_probe(call_sid: str) -> LineProbe:
    with _PROBES_LOCK:
        return PROBES.pop(call_sid, LineProbe())


# ---------------------------------------------------------------------- per-call analysis


@dataclass(slots=True)
class TurnFigures:
    """One caller speech turn. ``turn_ms`` is the player's figure (caller stops talking -> first
    bot audio frame received); the ``server_*`` figures come from the server's call record and
    start when its endpointer declared the utterance over."""

    fixture: str
    index: int
    turn_ms: float | None
    server_turn_ms: float | None = None
    asr_ms: float | None = None
    nlu_ms: float | None = None
    talked_over: bool = False
    """No bot audio after the caller stopped because the server ended the turn while the caller
    was still speaking (its reply started mid-utterance): an endpointing error, not slowness."""

    @property
    def endpoint_ms(self) -> float | None:
        """What the player saw that the server did not count: the wait until the server decided
        the turn was over (end silence, or earlier when the adaptive end of turn fires; any
        speculative ASR runs inside it) plus both socket hops and the frame alignment."""
        if self.turn_ms is None or self.server_turn_ms is None:
            return None
        return self.turn_ms - self.server_turn_ms

    @property
    def asr_overlapped(self) -> bool:
        """ASR ran (at least partly) before the server declared the turn over: the adaptive end
        of turn transcribes speculatively at a short pause, so its time hides in the wait."""
        if self.server_turn_ms is None or self.asr_ms is None or self.nlu_ms is None:
            return False
        return self.server_turn_ms < self.asr_ms + self.nlu_ms

    @property
    def tts_first_ms(self) -> float | None:
        """Server turn time not spent in ASR or NLU: TTS to the first chunk (often a cache hit),
        plus the hand-off from the worker pool to the call's socket thread. When ASR ran
        speculatively before the turn clock started, only NLU is taken off: an upper bound (it
        includes whatever part of ASR was still running when the turn ended)."""
        if self.server_turn_ms is None or self.asr_ms is None or self.nlu_ms is None:
            return None
        asr = 0.0 if self.asr_overlapped else self.asr_ms
        return max(0.0, self.server_turn_ms - asr - self.nlu_ms)


@dataclass(slots=True)
class Gap:
    """Silence the caller heard in the middle of a bot turn because audio arrived late."""

    ms: float
    mid_say: bool
    """True: inside one Say (no mark between); False: between two Says of the same bot turn."""


@dataclass(slots=True)
class CallFigures:
    fixture: str
    call_sid: str
    duration_s: float
    turns: list[TurnFigures]
    gaps: list[Gap]
    send_lag_ms_max: float
    send_lag_ms_p99: float
    heard: list[str]
    first_replies: list[str]
    """The bot's first Say after each caller speech turn (for the direct TTS measurement)."""
    problems: list[str]
    outcome: str | None


def _server_caller_turn_times(record: dict[str, Any] | None) -> list[int]:
    """Stream times (samples) at which the server began a new bot turn for the caller."""
    out = []
    for t in (record or {}).get("turns") or []:
        if isinstance(t, dict) and t.get("speaker") == "caller":
            out.append(int(round(float(t.get("t") or 0.0) * PHONE_RATE)))
    return sorted(out)


def find_gaps(events: Sequence[LineEvent], turn_starts: Sequence[int]) -> list[Gap]:
    """Underruns in the bot's audio as received by the caller.

    A bot turn starts with the call (the greeting), after a ``clear`` (barge-in) or when the
    server's record shows a caller turn (speech heard, keys, no-input timeout) since the previous
    audio (give or take :data:`TURN_SLACK`). Within a turn, audio that arrives while the
    caller's playback has already run dry (``queued_end <= now``) is late: Twilio would have
    played silence. Because the server sends audio faster than real time whenever it can, any
    such event means the server (TTS, or the call's socket thread) fell behind the line.
    """
    gaps: list[Gap] = []
    new_turn = True
    prev_kind = ""
    prev_now = -1
    for ev in events:
        if ev.kind == "clear":
            new_turn = True
        elif ev.kind == "media":
            if any(prev_now < t <= ev.now + TURN_SLACK for t in turn_starts):
                new_turn = True
            if not new_turn and ev.queued_end <= ev.now:
                gaps.append(Gap((ev.now - ev.queued_end) / SAMPLES_PER_MS, prev_kind == "media"))
            new_turn = False
            prev_now = ev.now
        prev_kind = ev.kind
    return gaps


def analyse_call(report: CallReport, probe: LineProbe) -> CallFigures:
    """Join the player's view, the probe and the server record into one call's figures."""
    record = report.record or {}
    timings = [t for t in record.get("timings") or [] if isinstance(t, dict)]
    # A reply the caller talked over right away was taken back (its turn joined the next):
    # the caller heard one turn, so it pairs with one timing.
    speech_timings = [t for t in timings if float(t.get("asr_ms") or 0) > 0
                      and not t.get("taken_back")]
    speech_turns = [t for t in report.turns if t.kind == "speech"]
    turns = [TurnFigures(report.fixture, t.index, t.latency_ms) for t in speech_turns]
    problems = list(report.errors)
    # Server timings are per caller turn that got audio back; ASR only runs for speech. Pair
    # them with the player's speech turns only when the counts agree (a split utterance or a
    # dropped one would shift every pair after it).
    if len(speech_timings) == len(turns):
        for tf, st in zip(turns, speech_timings, strict=True):
            tf.server_turn_ms = float(st.get("turn_ms") or 0)
            tf.asr_ms = float(st.get("asr_ms") or 0)
            tf.nlu_ms = float(st.get("nlu_ms") or 0)
    elif record:
        problems.append(f"server has {len(speech_timings)} speech timings for {len(turns)} "
                        "caller speech turns: not paired")
    caller_speech_t = [float(t.get("t") or 0.0) for t in record.get("turns") or []
                       if isinstance(t, dict) and t.get("speaker") == "caller"
                       and t.get("kind") == "speech"]
    for tf, tr in zip(turns, speech_turns, strict=True):
        if tf.turn_ms is not None:
            continue
        end = tr.end_s if tr.end_s is not None else float("inf")
        if any(tr.start_s <= t < end for t in caller_speech_t):
            tf.talked_over = True
            problems.append(f"turn {tf.index + 1}: the server ended the turn while the caller "
                            "was still speaking (bot talked over the caller)")
        else:
            problems.append(f"turn {tf.index + 1}: no bot audio before the caller's next step")
    lag = probe.send_lag_ms or [0.0]
    heard = [h for t in speech_turns for h in t.heard]
    replies = [t.bot[0] for t in speech_turns if t.bot]
    problems += [f for f in report.failures if "expected" in f and "heard" in f]
    return CallFigures(
        fixture=report.fixture, call_sid=report.call_sid, duration_s=report.duration_s,
        turns=turns, gaps=find_gaps(probe.events, _server_caller_turn_times(record)),
        send_lag_ms_max=max(lag), send_lag_ms_p99=percentile(lag, 99) or 0.0,
        heard=heard, first_replies=replies, problems=problems, outcome=report.outcome,
    )


# ---------------------------------------------------------------------- the server process


class ProcessTree:
    """CPU and memory of a process and its children (gunicorn forks the real worker).

    CPU is summed over the live tree; children that exit between samples are lost, which is
    why the benchmarks sample while the server is up and never across a restart.
    """

    def __init__(self, pid: int) -> None:
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)

    def procs(self) -> list[Any]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except self._psutil.NoSuchProcess:
            return []

    def cpu_s(self) -> float:
        total = 0.0
        for p in self.procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except self._psutil.NoSuchProcess:
                pass
        return total

    def rss_mb(self) -> float:
        total = 0
        for p in self.procs():
            with contextlib.suppress(self._psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / 2**20

    def threads(self) -> int:
        n = 0
        for p in self.procs():
            with contextlib.suppress(self._psutil.NoSuchProcess):
                n += p.num_threads()
        return n


class RssSampler:
    """Peak RSS (and thread count) of a process tree while a block runs, sampled every
    ``interval_s`` -- memory per call is a peak, not an end state, since calls free on hang-up."""

    def __init__(self, tree: ProcessTree, interval_s: float = 0.5) -> None:
        self.tree = tree
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.tree.rss_mb())
            self.peak_threads = max(self.peak_threads, self.tree.threads())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.tree.rss_mb())
