"""``ivr tickets``: see the ticket outbox, or run its delivery worker.

    ivr tickets --db sqlite:///calls.db                 # list: id, status, attempts, last error
    ivr tickets --db ... --json
    IVR_TICKETS_SECRET=... ivr tickets --db ... --deliver --webhook https://crm.example.com/hook

The webhook secret comes from the environment only (never a flag: it would show in ``ps``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading

from ivr.handoff.tickets import Deliverer, outbox
from ivr.store.records import RecordsDB


def default_spool(db_url: str) -> str:
    """Where ``ivr serve`` keeps the spool: beside a SQLite file, else ./ivr-spool."""
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return db_url[len("sqlite:///"):] + ".spool"
    return "ivr-spool"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ivr tickets", description=__doc__.splitlines()[0])
    p.add_argument("--db", default=os.environ.get("IVR_DB_URL", "sqlite:///calls.db"))
    p.add_argument("--spool", default=os.environ.get("IVR_SPOOL_DIR", ""),
                   help="the records database's spool directory (default: as ivr serve's)")
    p.add_argument("--json", action="store_true", help="list as JSON lines")
    p.add_argument("--deliver", action="store_true", help="run the delivery worker until killed")
    p.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    p.add_argument("--webhook", default=os.environ.get("IVR_TICKETS_WEBHOOK", ""))
    args = p.parse_args(argv)
    logging.basicConfig(level=os.environ.get("IVR_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = RecordsDB(args.db, args.spool or default_spool(args.db))
    try:
        if args.deliver or args.once:
            secret = os.environ.get("IVR_TICKETS_SECRET", "")
            if not secret or not args.webhook:
                print("ivr tickets: set IVR_TICKETS_SECRET and --webhook to deliver",
                      file=sys.stderr)
                return 2
            worker = Deliverer(db, args.webhook, secret)
            if args.once:
                worker.run_once()
                return 0
            done = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            worker.start()
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop cleanly too
                done.wait()
            worker.stop()
            return 0
        for row in outbox(db):
            status = "delivered" if row.delivered_at else "pending"
            if args.json:
                print(json.dumps({"id": row.id, "status": status, "attempts": row.attempts,
                                  "next_attempt_at": row.next_attempt_at.isoformat(),
                                  "last_error": row.last_error}))
            else:
                print(f"{row.id:40} {status:9} attempts={row.attempts} "
                      f"{row.last_error or ''}".rstrip())
        return 0
    finally:
        db.close()
