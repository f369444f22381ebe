"""Wiring: build the shared services from settings and serve the app under gunicorn.

Kept apart from :mod:`ivr.app` so the Flask app can be built in tests with any services, and so
model loading happens once per process, before the first call arrives.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.asr import AsrConfig, Transcriber
from ivr.config import NoisedMode, Settings
from ivr.dialog import DialogFactory
from ivr.errors import ConfigError
from ivr.handoff.wiring import add_handoff_sinks
from ivr.session import Services
from ivr.store import CallStore, RecordSink, store_from_url
from ivr.tts import Speaker, VoiceConfig
from ivr.vad import EndpointConfig

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def shifted_clock(start: str) -> Clock:
    """A clock that starts at ``start`` (ISO 8601 with offset) and runs at normal speed.

    For tests and demos of business hours (``IVR_NOW``); production uses the real clock.
    """
    try:
        origin = datetime.fromisoformat(start)
    except ValueError as exc:
        raise ConfigError(f"IVR_NOW is not an ISO 8601 datetime: {start!r}") from exc
    if origin.tzinfo is None:
        raise ConfigError("IVR_NOW needs a UTC offset, e.g. 2026-11-24T10:00:00-05:00")
    t0 = time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - t0)


class PlanSource:
    """The dialplan currently serving new calls, reloaded in the background when its file changes.

    A broken edit is rejected with its errors logged and the previous plan keeps serving; calls in
    progress keep the dialogue they started with. Reloading (which builds the intent classifiers,
    seconds for a large plan) happens on a watcher thread, so no caller ever waits for it.
    """

    def __init__(self, path: Path, poll_s: float = 1.0, clock: Clock | None = None,
                 noised: NoisedMode = "cached", asr_model: str = "") -> None:
        from ivr.dialplan import PlanHolder
        from ivr.engine import build_factory
        from ivr.engine.factory import Noised
        from ivr.nlu.noised_build import BackgroundBuild

        use: Noised = "off" if noised == "off" else "cached"
        self._holder = PlanHolder(
            path, lambda plan: build_factory(plan, clock=clock, noised=use, asr_model=asr_model),
            min_interval_s=poll_s)
        self.noised: BackgroundBuild | None = None
        if noised == "background":
            self.noised = BackgroundBuild(self._holder.rebuild, asr_model=asr_model)
            self.noised.request(self._holder.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(poll_s,), daemon=True,
                                        name="dialplan-watch")
        self._thread.start()

    def __call__(self) -> DialogFactory:
        factory: DialogFactory = self._holder.current()
        return factory

    def _watch(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            try:
                if self._holder.maybe_reload() and self.noised is not None:
                    self.noised.request(self._holder.path)  # the edit's new examples
            except Exception:  # never let the watcher die silently
                log.exception("dialplan watcher failed; will retry")

    def close(self) -> None:
        self._stop.set()
        if self.noised is not None:
            self.noised.close()


def spool_dir(settings: Settings) -> Path:
    """Where refused records wait: configured, else beside the SQLite file, else ./ivr-spool."""
    if settings.spool_dir:
        return Path(settings.spool_dir)
    if settings.db_url.startswith("sqlite:///") and settings.db_url != "sqlite:///:memory:":
        return Path(settings.db_url[len("sqlite:///"):] + ".spool")
    return Path("ivr-spool")


def migrate_records(settings: Settings) -> None:
    """Apply the records database migrations once, before worker processes fork."""
    if settings.db_url.lower() in ("", "none"):
        return
    from ivr.store.records import make_engine, migrate

    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def build_store(settings: Settings) -> CallStore:
    """The live store (memory or Redis) with the records database and JSONL export as sinks."""
    sinks: list[RecordSink] = []
    db = None
    if settings.db_url.lower() not in ("", "none"):
        from ivr.store.records import RecordsDB

        db = RecordsDB(settings.db_url, spool_dir(settings))
        sinks.append(db)
    store = store_from_url(settings.store_url, sinks=sinks, log_path=settings.call_log or None)
    if db is not None:
        db.on_error = store.errors
        store.records = db
    log.info("call store: %r; records: %r", store, db)
    return store


def build_services(settings: Settings) -> Services:
    """Load the models and the dialplan; fail fast (before accepting calls) if any is broken."""
    if settings.now:
        log.warning("IVR_NOW set: business hours follow a clock starting at %s", settings.now)
    clock = shifted_clock(settings.now) if settings.now else None
    plan = PlanSource(settings.dialplan, clock=clock, noised=settings.noised,
                      asr_model=settings.asr_model)
    factory = plan()
    transcriber = Transcriber(
        AsrConfig(
            model_path=settings.asr_model,
            compute_type=settings.asr_compute_type,
            cpu_threads=settings.asr_threads,
            # Parallel decodes: one per core beats one decode spread over cores (bench/asr.py).
            workers=max(1, min(settings.model_threads,
                               (os.cpu_count() or 1) // settings.asr_threads)),
        )
    )
    speaker = Speaker(
        VoiceConfig(
            model_path=settings.tts_model,
            config_path=settings.tts_config,
            length_scale=settings.tts_length_scale,
            cache_dir=settings.prompt_cache_dir,
        )
    )
    transcriber.warm_up()
    prompts = getattr(factory, "static_prompts", None)
    if callable(prompts):
        for text in prompts():
            speaker.render(text)
    templates = getattr(factory, "number_templates", None)
    if callable(templates):
        for text in templates():
            speaker.prepare_lead(text)
    log.info("models loaded: ASR %s, TTS %s Hz", transcriber.model_path, speaker.sample_rate)
    from ivr import observability

    store = add_handoff_sinks(build_store(settings), factory, settings.public_url)
    store.errors.listeners.append(observability.store_error)  # ivr_store_errors_total{kind}
    return Services(
        transcriber=transcriber,
        speaker=speaker,
        executor=ThreadPoolExecutor(max_workers=settings.model_threads,
                                    thread_name_prefix="model"),
        store=store,
        plan=plan,
        endpoint=EndpointConfig(end_silence_s=settings.end_silence_s),
        vad_aggressiveness=settings.vad_aggressiveness,
        record_dir=Path(settings.record_dir) if settings.record_dir else None,
    )


def serve(settings: Settings, host: str, port: int, threads: int = 200) -> None:
    """Run under gunicorn (gthread worker: one thread per live WebSocket call).

    ``settings.workers`` processes, each loading its own models after the fork (so no model or
    connection is shared across a fork); more than one needs a shared store (checked here).
    Scale out further with more hosts behind a load balancer on the same Redis (see README).
    """
    from gunicorn.app.base import BaseApplication

    from ivr.app import create_app

    settings.check_security()
    if settings.metrics_port:
        from ivr.observability import prepare_multiprocess_dir

        if settings.metrics_port == port:
            raise ConfigError(f"--metrics-port {port} is the webhook port: metrics need their own")

        prepare_multiprocess_dir()  # before any metric exists, in the master and every worker
    settings.check_scaling()
    migrate_records(settings)

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": settings.workers,
                "worker_class": "gthread",
                "threads": threads,
                "timeout": 0,
                "graceful_timeout": 5,
                "accesslog": None,
                "loglevel": "warning",
            }
            options.update(ops_gunicorn_options(settings))
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from ivr.observability import instrument_services

            return create_app(settings, instrument_services(build_services(settings)))

    _Gunicorn().run()


# ---------------------------------------------------------------------- operations: drain, metrics


DRAIN_LINGER_S = 3.0


def ops_gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Gunicorn settings and hooks for graceful drain and the metrics endpoint.

    gunicorn's own SIGTERM handling closes a worker's listening socket at once, so ``/healthz``
    could not say "draining" and a racing webhook would be refused at TCP level. Instead each
    worker handles SIGTERM itself (:func:`_drain_on_sigterm`): it keeps serving, refuses new calls
    and waits for its live ones, then lets gunicorn stop it. The master's ``graceful_timeout`` is
    the drain time plus a margin, so it never SIGKILLs a worker that is still draining.
    """
    from ivr.observability import mark_process_dead, start_metrics_server

    def when_ready(_arbiter: Any) -> None:
        start_metrics_server(settings.metrics_host, settings.metrics_port)

    def child_exit(_arbiter: Any, worker: Any) -> None:
        mark_process_dead(worker.pid)

    options: dict[str, Any] = {
        "graceful_timeout": int(settings.drain_s) + 10,  # gunicorn wants whole seconds
        "post_worker_init": lambda worker: _drain_on_sigterm(worker, settings.drain_s),
        "child_exit": child_exit,
    }
    if settings.metrics_port:
        options["when_ready"] = when_ready  # the master: it outlives and sums all workers
    if settings.log_format == "json":
        options["logger_class"] = _json_gunicorn_logger()
    return options


def _json_gunicorn_logger() -> type:
    """gunicorn's logger with its error log in the same JSON lines as ours."""
    from gunicorn.glogging import Logger

    from ivr.observability import use_json

    class JsonLogger(Logger):
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                use_json(handler)

    return JsonLogger


def _drain_on_sigterm(worker: Any, drain_s: float) -> None:
    """Replace the worker's SIGTERM handler with a drain (runs after gunicorn's init_signals)."""
    admission = worker.wsgi.config["IVR_ADMISSION"]

    def on_term(_signum: int, _frame: Any) -> None:
        if admission.draining:
            return
        admission.begin_drain()  # from here the voice webhook refuses and /healthz says draining
        threading.Thread(target=_drain, args=(worker, admission, drain_s), name="drain",
                         daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)


def _drain(worker: Any, admission: Any, drain_s: float) -> None:
    log.warning("SIGTERM: draining %d live call(s), up to %.0f s", admission.active, drain_s)
    if not admission.wait_idle(drain_s):
        closed = admission.close_all()
        log.warning("drain time is up: closed %d live call(s); Twilio's action request sends "
                    "them to the default group", closed)
        admission.wait_idle(5.0)
    # Twilio requests a call's action URL (and status callbacks) right after its stream ends; with
    # a per-process store only this process can answer, so stay up a moment after the last call.
    linger = DRAIN_LINGER_S - admission.since_last_call_s()
    if linger > 0:
        threading.Event().wait(linger)
    services = worker.wsgi.config.get("IVR_SERVICES")
    if services is not None:
        try:
            services.store.close()  # flush write-behind Redis writes and the records spool
        except Exception:
            log.exception("drain: flushing the store failed; the spool keeps unsent records")
    log.warning("drained; worker %s exiting", os.getpid())
    worker.alive = False  # gunicorn's loop notices within a second and exits cleanly
