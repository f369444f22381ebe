"""Settings and server wiring for the store and the records database (no models loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import settings_from_env
from ivr.errors import ConfigError
from ivr.server import build_store, spool_dir
from ivr.store import CallRecord, MemoryStore
from ivr.store.records import RecordsDB
from ivr.store.redis_store import RedisStore
from tests.redis_server import RedisServer, redis_server  # noqa: F401


def test_several_workers_need_a_shared_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_STORE_URL", raising=False)
    with pytest.raises(ConfigError, match="needs a shared store"):
        settings_from_env(workers=2).check_scaling()
    settings_from_env(workers=1).check_scaling()
    settings_from_env(workers=4, store_url="redis://127.0.0.1:6379/0").check_scaling()


def test_model_threads_and_workers_are_separate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_MODEL_THREADS", "3")
    monkeypatch.setenv("IVR_WORKERS", "1")
    s = settings_from_env()
    assert (s.model_threads, s.workers) == (3, 1)


def test_build_store_with_records_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_STORE_URL", raising=False)
    db_url = f"sqlite:///{tmp_path / 'calls.db'}"
    settings = settings_from_env(db_url=db_url, call_log=str(tmp_path / "calls.jsonl"))
    assert spool_dir(settings) == Path(str(tmp_path / "calls.db") + ".spool")
    store = build_store(settings)
    try:
        assert isinstance(store, MemoryStore) and isinstance(store.records, RecordsDB)
        store.finish(CallRecord("CA1", "+1", outcome="hangup"))
        row = store.records.get("CA1")
        assert row is not None and row.outcome == "hangup"
        assert (tmp_path / "calls.jsonl").exists()
    finally:
        store.close()


def test_build_store_redis_without_db(redis_server: RedisServer) -> None:  # noqa: F811
    store = build_store(settings_from_env(db_url="none", store_url=redis_server.url))
    try:
        assert isinstance(store, RedisStore) and store.records is None and store.shared
    finally:
        store.close()
