"""Wiring: build the shared services from settings and serve the app under gunicorn.

Kept apart from :mod:`ivr.app` so the Flask app can be built in tests with any services, and so
model loading happens once per process, before the first call arrives.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.asr import AsrConfig, Transcriber
from ivr.config import Settings
from ivr.dialog import DialogFactory
from ivr.errors import ConfigError
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

    def __init__(self, path: Path, poll_s: float = 1.0, clock: Clock | None = None) -> None:
        from ivr.dialplan import PlanHolder
        from ivr.engine import build_factory

        self._holder = PlanHolder(path, lambda plan: build_factory(plan, clock=clock),
                                  min_interval_s=poll_s)
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
                self._holder.maybe_reload()
            except Exception:  # never let the watcher die silently
                log.exception("dialplan watcher failed; will retry")

    def close(self) -> None:
        self._stop.set()


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
    plan = PlanSource(settings.dialplan, clock=clock)
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
    log.info("models loaded: ASR %s, TTS %s Hz", transcriber.model_path, speaker.sample_rate)
    return Services(
        transcriber=transcriber,
        speaker=speaker,
        executor=ThreadPoolExecutor(max_workers=settings.model_threads,
                                    thread_name_prefix="model"),
        store=build_store(settings),
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
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(settings, build_services(settings))

    _Gunicorn().run()
