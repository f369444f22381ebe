"""Per-call state that must outlive one WebSocket, and the durable record of every call.

- :mod:`ivr.store.base`: the :class:`CallStore` interface and the call's data types.
- :mod:`ivr.store.memory`: :class:`MemoryStore`, the single-process default.
- :mod:`ivr.store.redis_store`: :class:`RedisStore`, shared by many processes and hosts.
- :mod:`ivr.store.records`: the call-records database (SQLAlchemy + Alembic), with a local spool
  so a finished call's record is never lost.

``store_from_url`` picks the live store from ``--store`` / ``IVR_STORE_URL``.
"""

from __future__ import annotations

from ivr.store.base import CallRecord, CallStore, Decision, LiveCounters, RecordSink
from ivr.store.factory import store_from_url
from ivr.store.memory import MemoryStore
from ivr.transcript import Turn  # re-exported: the one turn type (CallRecord.turns holds these)

__all__ = [
    "CallRecord",
    "CallStore",
    "Decision",
    "LiveCounters",
    "MemoryStore",
    "RecordSink",
    "Turn",
    "store_from_url",
]
