"""``ivr qa --db URL``: the call QA findings summed per plan (how many calls had each)."""

from __future__ import annotations

import argparse
import json
import os

from sqlalchemy import select

from ivr.handoff.qa import QaRow, summary
from ivr.handoff.tickets_cli import default_spool
from ivr.store.records import RecordsDB


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ivr qa", description=__doc__.splitlines()[0])
    p.add_argument("--db", default=os.environ.get("IVR_DB_URL", "sqlite:///calls.db"))
    p.add_argument("--spool", default=os.environ.get("IVR_SPOOL_DIR", ""))
    p.add_argument("--plan", default="", help="one plan's name (default: every plan)")
    args = p.parse_args(argv)
    db = RecordsDB(args.db, args.spool or default_spool(args.db))
    try:
        with db.session() as s:
            plans = sorted(set(s.scalars(select(QaRow.plan))))
        for plan in [args.plan] if args.plan else plans:
            print(json.dumps(summary(db, plan)))
        return 0
    finally:
        db.close()
