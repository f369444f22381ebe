"""Metrics and structured logging, in one place, so no other module knows Prometheus or log formats.

Metrics (``prometheus_client``) are fed from the edges, not from inside the call loop: the media
route reports each finished :class:`~ivr.store.CallRecord` (turns, timings, outcome, errors) and
the stored decision (transfer group and reason), the voice webhook reports admission refusals,
the worker pool reports its queue depth, the store reports its own errors through
:func:`store_error`. The call session itself never has to change to be observable.

Under ``ivr serve`` the webhook server is always a gunicorn worker process while ``/metrics`` is
served by the gunicorn master on ``--metrics-port``, so values always go through
``prometheus_client``'s multiprocess mode (memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``),
which is also what several worker processes need. prometheus_client decides between in-memory and
multiprocess values when it is first imported, so it is imported lazily here: the directory can be
prepared (:func:`prepare_multiprocess_dir`) before any metric exists. In a test process without
that variable, metrics are ordinary in-memory ones.

Logs: :func:`bind_call` puts the call's SID in a context variable that a logging filter copies
onto every record, and ``--log-format json`` renders each record as one JSON object
(``python-json-logger``), so every line of a call carries ``call_sid``.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from simple_websocket.errors import ConnectionClosed

from ivr import wire
from ivr.errors import ConfigError, ProtocolError

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram
    from prometheus_client.registry import CollectorRegistry

    from ivr.session import WebSocketLike
    from ivr.store import CallRecord, CallStore

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. Turn latency lives around 0.05-1 s; ASR of a long utterance or a queue can reach seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.5, 2.0,
                   3.0, 5.0, 10.0)

P = ParamSpec("P")
R = TypeVar("R")


# ---------------------------------------------------------------------------- metric definitions


@dataclass(frozen=True)
class _Metrics:
    active_calls: Gauge
    calls: Counter
    turns: Counter
    no_input: Counter
    no_match: Counter
    end_of_turn_wait: Histogram
    asr: Histogram
    nlu: Histogram
    tts_first_chunk: Histogram
    turn: Histogram
    transfers: Counter
    queue_depth: Gauge
    model_errors: Counter
    protocol_errors: Counter
    admission_refusals: Counter
    store_errors: Counter


@functools.lru_cache(maxsize=1)
def _m() -> _Metrics:
    """Create the metrics on first use (see the module docstring for why not at import)."""
    from prometheus_client import Counter, Gauge, Histogram

    def hist(name: str, doc: str, labels: tuple[str, ...] = ()) -> Histogram:
        return Histogram(name, doc, labels, buckets=LATENCY_BUCKETS)

    return _Metrics(
        active_calls=Gauge("ivr_active_calls", "Live Media Streams calls (WebSocket sessions)",
                           multiprocess_mode="livesum"),
        calls=Counter("ivr_calls", "Finished calls by outcome", ["outcome"]),
        turns=Counter("ivr_turns", "Caller turns by kind (speech, dtmf, no_input)", ["kind"]),
        no_input=Counter("ivr_no_input", "Caller turns where the caller said nothing"),
        no_match=Counter("ivr_no_match", "Caller turns the dialplan could not match"),
        end_of_turn_wait=hist("ivr_end_of_turn_wait_seconds",
                              "Caller stopped speaking -> turn judged over"),
        asr=hist("ivr_asr_seconds", "Speech recognition per caller turn"),
        nlu=hist("ivr_nlu_seconds", "Understanding + dialogue engine per caller turn"),
        tts_first_chunk=hist("ivr_tts_first_chunk_seconds",
                             "Text-to-speech: request -> first audio (mode: stream = sentence "
                             "streaming of dynamic text, whole = static prompt, usually cached)",
                             ("mode",)),
        turn=hist("ivr_turn_seconds", "End of the caller's turn -> first bot audio sent"),
        transfers=Counter("ivr_transfers", "Calls handed to an agent group", ["group", "reason"]),
        queue_depth=Gauge("ivr_worker_queue_depth", "Model work (ASR/NLU/TTS) waiting for a worker",
                          multiprocess_mode="livesum"),
        model_errors=Counter("ivr_model_errors", "Failed model/engine work by exception type",
                             ["kind"]),
        protocol_errors=Counter("ivr_protocol_errors", "Malformed Media Streams frames dropped"),
        admission_refusals=Counter("ivr_admission_refusals",
                                   "New calls sent straight to the default group", ["reason"]),
        store_errors=Counter("ivr_store_errors", "Call store failures by kind", ["kind"]),
    )


# ---------------------------------------------------------------------------- what the edges report


def call_started() -> None:
    _m().active_calls.inc()


def call_ended() -> None:
    _m().active_calls.dec()


def admission_refused(reason: str, group: str) -> None:
    """A new call was answered with "all lines busy" + transfer (``reason``: busy | draining)."""
    m = _m()
    m.admission_refusals.labels(reason).inc()
    m.calls.labels("refused").inc()
    m.transfers.labels(group, f"admission_{reason}").inc()


def store_error(kind: str) -> None:
    """For the store implementations: count one failure (``kind``: e.g. unreachable, timeout)."""
    _m().store_errors.labels(kind).inc()


def no_match() -> None:
    """For the engine: one caller turn the dialplan could not match."""
    _m().no_match.inc()


def tts_first_chunk(seconds: float, mode: str = "stream") -> None:
    _m().tts_first_chunk.labels(mode).observe(seconds)


def record_finished(record: CallRecord | None, store: CallStore) -> None:
    """Feed the metrics of one finished call from its record and stored decision.

    Never raises: a metrics problem must not turn a finished call into an error; it is logged.
    """
    if record is None:  # the stream never started (bad token): nothing happened on a call
        return
    try:
        _feed(record, store)
    except Exception:
        log.exception("metrics for call %s could not be recorded", record.call_sid)


def _feed(record: CallRecord, store: CallStore) -> None:
    m = _m()
    outcome = (record.outcome or "none").split(":", 1)[0]
    m.calls.labels(outcome).inc()
    for turn in record.turns:
        if turn.speaker == "caller":
            m.turns.labels(turn.kind).inc()
            if turn.kind == "no_input":
                m.no_input.inc()
    for timing in record.timings:
        _observe_ms(m.asr, timing, "asr_ms", positive=True)  # 0: a keypad turn, no ASR ran
        _observe_ms(m.nlu, timing, "nlu_ms")
        _observe_ms(m.turn, timing, "turn_ms")
        _observe_ms(m.end_of_turn_wait, timing, "wait_ms")
    for error in record.errors:
        kind, _, _ = error.partition(":")
        if kind == "protocol":
            m.protocol_errors.inc()
        else:
            m.model_errors.labels(kind.strip() or "unknown").inc()
    if outcome == "transfer":
        decision = store.get_decision(record.call_sid)
        group = record.outcome.split(":", 1)[1].strip() if record.outcome else ""
        reason = "unknown"
        if decision is not None:
            if decision.target is not None:
                group = decision.target.name
            ctx = decision.context
            reason = "error" if ctx.get("error") else str(ctx.get("reason") or "unknown")
        m.transfers.labels(group or "unknown", reason).inc()


def _observe_ms(hist: Histogram, timing: Mapping[str, float], key: str,
                positive: bool = False) -> None:
    value = timing.get(key)
    if isinstance(value, (int, float)) and value >= 0 and not (positive and value == 0):
        hist.observe(value / 1000)


# ---------------------------------------------------------------------------- worker pool


class InstrumentedExecutor(Executor):
    """The shared model pool, counting work that waits for a worker and carrying the submitter's
    logging context (its call_sid) onto the worker thread, so model-side log lines name the call."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        ctx = contextvars.copy_context()
        depth = _m().queue_depth
        depth.inc()
        started = threading.Event()

        def run() -> R:
            started.set()
            depth.dec()
            return ctx.run(fn, *args, **kwargs)

        try:
            return self._inner.submit(run)
        except BaseException:
            if not started.is_set():
                depth.dec()
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


class TimedSpeaker:
    """Wraps the TTS :class:`~ivr.tts.Speaker`: times synthesis to its first audio."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def stream(self, text: str) -> Iterator[bytes]:
        t0 = time.perf_counter()
        first = True
        for chunk in self._inner.stream(text):
            if first:
                tts_first_chunk(time.perf_counter() - t0)
                first = False
            yield chunk

    def render(self, text: str, *, cache: bool = True) -> bytes:
        t0 = time.perf_counter()
        audio: bytes = self._inner.render(text, cache=cache)
        tts_first_chunk(time.perf_counter() - t0, "whole")
        return audio

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument_services(services: Any) -> Any:
    """Wrap a :class:`~ivr.session.Services`' pool and speaker for metrics; returns it."""
    services.executor = InstrumentedExecutor(services.executor)
    services.speaker = TimedSpeaker(services.speaker)
    return services


# ---------------------------------------------------------------------------- the /metrics server


def prepare_multiprocess_dir() -> Path:
    """Make ``PROMETHEUS_MULTIPROC_DIR`` usable before any metric exists; returns it.

    The operator's directory is emptied of old value files (prometheus_client requires a clean
    directory per server run, or dead processes' counters would be summed in); without one, a
    private temporary directory is created and removed at exit.
    """
    if "prometheus_client" in sys.modules and MULTIPROC_ENV not in os.environ:
        raise ConfigError("prometheus_client was imported before the metrics directory was set")
    configured = os.environ.get(MULTIPROC_ENV, "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="ivr-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
        import atexit

        pid = os.getpid()

        def cleanup() -> None:
            if os.getpid() == pid:  # forked workers inherit atexit handlers: only the maker
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(cleanup)
    return path


def _registry() -> CollectorRegistry:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def start_metrics_server(host: str, port: int) -> None:
    """Serve ``/metrics`` (Prometheus text format) on ``host:port`` from a daemon thread."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=_registry())
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
    log.info("metrics on http://%s:%s/metrics", host, port)


def mark_process_dead(pid: int) -> None:
    """A worker process exited: drop its live gauges (active calls, queue depth) from the sums."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def render_metrics() -> bytes:
    """The current metrics in text format (what /metrics serves), for tests and tools."""
    from prometheus_client import generate_latest

    return bytes(generate_latest(_registry()))


# ---------------------------------------------------------------------------- logging

_call_sid: contextvars.ContextVar[str] = contextvars.ContextVar("ivr_call_sid", default="")


def bind_call(call_sid: str) -> None:
    """Every log line from this thread (and model work it submits) now carries ``call_sid``.

    Each call runs on its own socket thread, so a context variable is per call; the media route
    clears it when the call ends, before the thread serves another connection.
    """
    _call_sid.set(call_sid)


def unbind_call() -> None:
    _call_sid.set("")


def current_call() -> str:
    return _call_sid.get()


class CallContextFilter(logging.Filter):
    """Adds ``record.call_sid`` (empty outside a call) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "call_sid", ""):
            record.call_sid = _call_sid.get()
        return True


def configure_logging(fmt: str, level: str | int = "INFO") -> None:
    """Root logging for the server: ``text`` (human) or ``json`` (one object per line)."""
    if fmt not in ("text", "json"):
        raise ConfigError(f"unknown log format {fmt!r} (text or json)")
    handler = logging.StreamHandler()
    if fmt == "json":
        use_json(handler)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def use_json(handler: logging.Handler) -> None:
    """Make ``handler`` write one JSON object per record, with call_sid (also used for
    gunicorn's own error log, so a log pipeline never meets a non-JSON line)."""
    from pythonjsonlogger.json import JsonFormatter

    handler.addFilter(CallContextFilter())
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(call_sid)s %(message)s",
        rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
    ))


class CallBindingSocket:
    """The call's WebSocket, seen by the session: binds the log context to the call as soon as the
    ``start`` message arrives (parsed by :mod:`ivr.wire`, like everything on the wire), so even the
    session's own lines carry call_sid without the session knowing about logging."""

    def __init__(self, ws: WebSocketLike) -> None:
        self._ws = ws
        self._bound = False

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        raw = self._ws.receive(timeout=timeout)
        if raw is not None and not self._bound:
            try:
                event = wire.parse_message(raw)
            except ProtocolError:
                event = None  # the session reports it
            if isinstance(event, wire.Start):
                bind_call(event.call_sid)
                self._bound = True
        return raw

    def send(self, data: str) -> None:
        self._ws.send(data)

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        """Close the stream; if Twilio (the caller hanging up) closed it first, that is the
        same outcome, not a crash: simple-websocket raises ConnectionClosed for it."""
        try:
            self._ws.close(reason=reason, message=message)
        except ConnectionClosed as exc:
            log.info("stream already closed by the peer (%s)", exc)

    def __getattr__(self, name: str) -> Any:
        # anything else the session may use of the real socket (e.g. its fd, to block on it)
        return getattr(self._ws, name)
