"""Wiring: build the shared services from settings and serve the app under gunicorn.

Kept apart from :mod:`ivr.app` so the Flask app can be built in tests with any services, and so
model loading happens once per process, before the first call arrives.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ivr.asr import AsrConfig, Transcriber
from ivr.config import Settings
from ivr.dialog import DialogFactory
from ivr.session import Services
from ivr.store import MemoryStore
from ivr.tts import Speaker, VoiceConfig
from ivr.vad import EndpointConfig

log = logging.getLogger(__name__)


class PlanSource:
    """The dialplan currently serving new calls, reloaded when its file changes.

    A broken edit is rejected with its errors logged and the previous plan keeps serving; calls in
    progress keep the dialogue they started with. The file's mtime is checked at most once a
    second, when a call starts, so an idle server does no work.
    """

    def __init__(self, path: Path) -> None:
        from ivr.dialplan import PlanHolder
        from ivr.engine import build_factory

        self._holder = PlanHolder(path, build_factory)
        self._lock = threading.Lock()

    def __call__(self) -> DialogFactory:
        with self._lock:
            self._holder.maybe_reload()
            factory: DialogFactory = self._holder.current()
        return factory


def build_services(settings: Settings) -> Services:
    """Load the models and the dialplan; fail fast (before accepting calls) if any is broken."""
    plan = PlanSource(settings.dialplan)
    factory = plan()
    transcriber = Transcriber(
        AsrConfig(
            model_path=settings.asr_model,
            compute_type=settings.asr_compute_type,
            cpu_threads=settings.asr_threads,
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
        executor=ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="model"),
        store=MemoryStore(log_path=settings.call_log or None),
        plan=plan,
        endpoint=EndpointConfig(end_silence_s=settings.end_silence_s),
        vad_aggressiveness=settings.vad_aggressiveness,
        record_dir=Path(settings.record_dir) if settings.record_dir else None,
    )


def serve(settings: Settings, host: str, port: int, threads: int = 200) -> None:
    """Run under gunicorn (gthread worker: one thread per live WebSocket call).

    One worker process holds one copy of the models; scale out with more processes/hosts behind a
    load balancer and a shared :class:`~ivr.store.CallStore` (see README).
    """
    from gunicorn.app.base import BaseApplication

    from ivr.app import create_app

    settings.check_security()

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": 1,
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
