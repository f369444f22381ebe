"""Server settings: one validated, frozen object built from CLI flags and ``IVR_*`` environment.

Secrets (the Twilio auth token) come from the environment only, never from flags, so they stay out
of process listings and shell history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ivr.errors import ConfigError

NoisedMode = Literal["off", "cached", "background"]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dialplan: Path
    public_url: str = ""
    """Base URL Twilio uses to reach us (https://ivr.example.com). Empty: from the request's Host,
    honouring X-Forwarded-Proto/Host (only safe behind a proxy you control)."""
    auth_token: str = ""
    insecure_dev: bool = False
    """Skip Twilio signature checks. Development only; logged loudly."""
    asr_model: str = ""
    noised: NoisedMode = "background"
    """ASR-noised copies of the plan's examples (:mod:`ivr.nlu.noised`): ``background`` speaks
    the ones not yet cached in a low-priority child process after start-up and then rebuilds the
    plan with them (:mod:`ivr.nlu.noised_build`); ``cached`` uses only what is cached; ``off``
    trains on the written examples alone."""
    asr_compute_type: str = "int8"
    asr_threads: int = Field(default=1, ge=1, le=64)
    model_threads: int = Field(default=4, ge=1, le=256)
    """Threads for model work (ASR, NLU, TTS), shared by all calls of one process."""
    workers: int = Field(default=1, ge=1, le=64)
    """Server processes (gunicorn workers), each with its own models. This used to count
    model threads (now ``model_threads`` / ``IVR_MODEL_THREADS``). > 1 needs a shared store."""
    store_url: str = ""
    """Live call state: empty / ``memory://`` (one process) or ``redis://host:6379/0``."""
    db_url: str = "sqlite:///calls.db"
    """Durable call records (any SQLAlchemy URL); ``none`` turns the database off."""
    spool_dir: str = ""
    """Where records the database refused wait for a retry (default: beside the SQLite file,
    else ``ivr-spool``)."""
    tts_model: str = ""
    tts_config: str = ""
    tts_length_scale: float = Field(default=1.0, gt=0.3, lt=3.0)
    prompt_cache_dir: str = "voices/cache"
    end_silence_s: float = Field(default=0.6, gt=0.05, le=5.0)
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    record_dir: str = ""
    """Save every call (inbound audio + events) here as a replayable fixture."""
    call_log: str = ""
    """Append each finished call record (JSON lines) here."""
    now: str = ""
    """Pretend the current time is this (ISO 8601 with offset) for business hours. Tests only."""
    expose_call_records: bool = True
    """Serve GET /calls/<CallSid> (transcripts) to signed or development requests."""
    screen_pop_secret: str = ""
    """HMAC key of the agent screen-pop links (its own, never the Twilio token). Empty: derived
    one-way from the Twilio token (so a fleet agrees); set it to rotate links independently."""
    max_calls: int = Field(default_factory=lambda: 8 * (os.cpu_count() or 1), ge=0, le=10_000)
    """Live calls this process takes; beyond it a new call goes straight to the default agent
    group. Default 8 per core: bench/capacity.py on a 2-core AVX2 box carries 16 calls at turn
    p95 <= 1 s and fails at 24 (README, *Scaling out*); measure your own hardware and set it.
    0 refuses every call (maintenance)."""
    drain_s: float = Field(default=300.0, ge=0, le=86_400)
    """On SIGTERM, how long live calls may run on before the process exits anyway."""
    metrics_port: int = Field(default=0, ge=0, le=65_535)
    """Serve Prometheus /metrics on this port (0: not served). Separate from the webhook port so
    it is never reachable through the public load balancer."""
    metrics_host: str = "127.0.0.1"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    """json: one JSON object per log line, with call_sid on every line of a call."""

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return v

    @field_validator("auth_token")
    @classmethod
    def _real_token(cls, v: str) -> str:
        """Surrounding whitespace (a stray newline from a secrets file) is not part of Twilio's
        token, and a whitespace-only value is no token: it becomes "" so check_security refuses
        it instead of serving webhooks "signed" with a blank key."""
        return v.strip()

    def check_scaling(self) -> None:
        """Refuse several processes on a store only one process can see."""
        if self.workers > 1 and self.store_url.split("://", 1)[0] in ("", "memory"):
            raise ConfigError(
                f"--workers {self.workers} needs a shared store: each process would hold its "
                "own stream tokens and decisions, and Twilio's requests for one call reach any "
                "process. Pass --store redis://host:6379/0 (IVR_STORE_URL), or --workers 1. "
                "(IVR_WORKERS now counts processes; model threads are IVR_MODEL_THREADS.)"
            )

    def check_security(self) -> None:
        """Refuse to run an unauthenticated server unless the operator explicitly asked to."""
        if not self.auth_token and not self.insecure_dev:
            raise ConfigError(
                "TWILIO_AUTH_TOKEN is not set: refusing to serve unauthenticated webhooks. "
                "Set it, or pass --insecure-dev for local development only."
            )


def settings_from_env(**overrides: object) -> Settings:
    """Settings from ``IVR_*`` variables (and ``TWILIO_AUTH_TOKEN``), then explicit overrides."""
    env = os.environ
    values: dict[str, object] = {
        "dialplan": env.get("IVR_DIALPLAN", "dialplans/shop.yaml"),
        "public_url": env.get("IVR_PUBLIC_URL", ""),
        "auth_token": env.get("TWILIO_AUTH_TOKEN", ""),
        "asr_model": env.get("IVR_ASR_MODEL", ""),
        "noised": env.get("IVR_NOISED", "background"),
        "tts_model": env.get("IVR_TTS_MODEL", ""),
        "tts_config": env.get("IVR_TTS_CONFIG", ""),
        "prompt_cache_dir": env.get("IVR_PROMPT_CACHE", "voices/cache"),
        "call_log": env.get("IVR_CALL_LOG", ""),
        "now": env.get("IVR_NOW", ""),
        "screen_pop_secret": env.get("IVR_SCREEN_POP_SECRET", ""),
        "store_url": env.get("IVR_STORE_URL", ""),
        "db_url": env.get("IVR_DB_URL", "sqlite:///calls.db"),
        "spool_dir": env.get("IVR_SPOOL_DIR", ""),
    }
    for key in ("asr_threads", "workers", "model_threads"):
        if f"IVR_{key.upper()}" in env:
            values[key] = env[f"IVR_{key.upper()}"]
    for key in ("max_calls", "drain_s", "metrics_port"):
        if f"IVR_{key.upper()}" in env:
            values[key] = env[f"IVR_{key.upper()}"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
