"""Pick the live call store from a URL (``--store`` / ``IVR_STORE_URL``)."""

from __future__ import annotations

from pathlib import Path

from ivr.errors import ConfigError
from ivr.store.base import CallStore, ErrorHook, RecordSink


def store_from_url(url: str = "", *, sinks: list[RecordSink] | None = None,
                   on_error: ErrorHook | None = None, log_path: str | Path | None = None,
                   check: bool = True) -> CallStore:
    """``""`` or ``memory://``: the in-process :class:`MemoryStore` (one process only);
    ``redis://host:6379/0`` (or ``rediss://``, ``unix://``): a shared :class:`RedisStore`.

    ``check``: ping Redis now, so a wrong URL fails at start-up rather than on the first call.
    ``log_path``: also append finished records to this JSON-lines file.
    """
    from ivr.store.memory import JsonlLog, MemoryStore

    all_sinks = list(sinks or [])
    if log_path:
        all_sinks.append(JsonlLog(log_path))
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.lower()
    if scheme in ("", "memory"):
        return MemoryStore(sinks=all_sinks)
    if scheme in ("redis", "rediss", "unix"):
        from ivr.store.redis_store import RedisStore, StoreUnavailable

        store = RedisStore(url, sinks=all_sinks, on_error=on_error)
        if check:
            try:
                store.ping()
            except StoreUnavailable as exc:
                store.close()
                raise ConfigError(f"--store {store!r}: {exc}") from exc
        return store
    raise ConfigError(f"unknown store URL {url!r}: use redis://host:6379/0 or memory://")
