"""Build the :class:`ContactCentre` a server process uses: from the server's own store and
records database when it has them (``--store``, ``--db``), else from the environment.

- ``IVR_STORE_URL=redis://host:6379/0``: seats, our queue and recent transfers (repeat
  callers) on Redis (required for more than one process; unset or ``memory://``: this process
  only);
- ``IVR_DB_URL=sqlite:///calls.db`` (any SQLAlchemy URL): the customer directory, stored
  call-backs and call history (finished calls, merged with the recent transfers) in the records
  database (``IVR_DB_SPOOL`` sets its spool
  directory, default ``./spool``);
- without a database, ``IVR_CALLBACKS_FILE`` keeps call-backs in a durable JSON-lines journal
  (default: in memory, with a warning, since a restart would lose them).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ivr.contact.profiles import MergedHistory
from ivr.contact.queue import FileCallbacks
from ivr.contact.service import ContactCentre

if TYPE_CHECKING:
    from ivr.store.records import RecordsDB

log = logging.getLogger(__name__)


def records_db(env: Mapping[str, str]) -> RecordsDB | None:
    url = env.get("IVR_DB_URL", "")
    if url.lower() in ("", "none"):  # "none": the server's way of saying no database
        return None
    from ivr.store.records import RecordsDB

    return RecordsDB(url, env.get("IVR_DB_SPOOL", "spool"))


def centre_from_env(env: Mapping[str, str] | None = None, *, store_url: str = "",
                    records: RecordsDB | None = None) -> ContactCentre:
    """The contact centre for this process: ``store_url`` (the server's ``--store``) or
    ``IVR_STORE_URL``; ``records`` (the server's records database, the store's sink) or a
    database opened from ``IVR_DB_URL``."""
    env = os.environ if env is None else env
    centre = ContactCentre()
    store_url = store_url or env.get("IVR_STORE_URL", "")
    if store_url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        from ivr.contact.redis_state import RedisHistory, RedisOccupancy, RedisQueue

        centre.occupancy = RedisOccupancy(store_url)
        centre.queue = RedisQueue(store_url)
        centre.history = RedisHistory(store_url)
    db = records if records is not None else records_db(env)
    if db is not None:
        from ivr.contact.db import DbCallbacks, DbDirectory, DbHistory

        centre.directory = DbDirectory(db)
        centre.callbacks = DbCallbacks(db)
        centre.history = MergedHistory(centre.history, DbHistory(db))
    elif env.get("IVR_CALLBACKS_FILE"):
        centre.callbacks = FileCallbacks(env["IVR_CALLBACKS_FILE"])
    else:
        log.info("call-backs are kept in memory: set IVR_DB_URL or IVR_CALLBACKS_FILE")
    return centre
