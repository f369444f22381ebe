"""CLI verbs for routing: ``ivr check --explain-route``, ``ivr customers``, ``ivr agents``."""

from __future__ import annotations

import argparse
import sys

from ivr.dialplan.errors import DialplanError, format_error
from ivr.dialplan.loader import load_dialplan


def explain_main(argv: list[str]) -> int:
    """``ivr check PLAN --explain-route "tier=gold intent=billing"``."""
    from ivr.contact.explain import explain_route

    p = argparse.ArgumentParser(prog="ivr check")
    p.add_argument("plan")
    p.add_argument("--explain-route", required=True, metavar='"key=value ..."')
    args = p.parse_args(argv)
    try:
        plan = load_dialplan(args.plan)
    except DialplanError as exc:
        for err in exc.errors:
            print(format_error(err))
        return 1
    try:
        lines = explain_route(plan, args.explain_route)
    except ValueError as exc:
        print(f"ivr check: --explain-route: {exc}", file=sys.stderr)
        return 2
    print(f"{args.plan}: ok; route for {args.explain_route!r}:")
    for line in lines:
        print("  " + line)
    return 0


def customers_main(argv: list[str]) -> int:
    """``ivr customers import FILE.csv`` / ``ivr customers show NUMBER`` (``--db`` or
    ``IVR_DB_URL``)."""
    import os

    from ivr.contact.db import DbDirectory
    from ivr.contact.profiles import DirectoryFileError, normalise_number, read_customers_csv
    from ivr.store.records import RecordsDB

    p = argparse.ArgumentParser(prog="ivr customers")
    p.add_argument("verb", choices=("import", "show"))
    p.add_argument("arg", metavar="FILE.csv|NUMBER")
    p.add_argument("--db", default=os.environ.get("IVR_DB_URL", "sqlite:///calls.db"))
    p.add_argument("--region", default="US", help="for numbers written without +country")
    args = p.parse_args(argv)
    db = RecordsDB(args.db, os.environ.get("IVR_DB_SPOOL", "spool"))
    try:
        directory = DbDirectory(db)
        if args.verb == "import":
            try:
                profiles = read_customers_csv(args.arg, args.region)
            except (DirectoryFileError, OSError) as exc:
                print(f"ivr customers: {exc}", file=sys.stderr)
                return 1
            print(f"imported {directory.import_profiles(profiles)} customers into {args.db}")
            return 0
        number = normalise_number(args.arg, args.region)
        profile = directory.lookup(number) if number else None
        if profile is None:
            print(f"no customer with number {args.arg}", file=sys.stderr)
            return 1
        for key in ("number", "name", "tier", "language", "segments", "open_tickets",
                    "account"):
            value = getattr(profile, key)
            print(f"{key:>12}: {', '.join(value) if isinstance(value, tuple) else value}")
        return 0
    finally:
        db.close()


def agents_main(argv: list[str]) -> int:
    """``ivr agents``: live seats, queue length and longest wait per group, from the store."""
    import os

    from ivr.contact.setup import centre_from_env

    p = argparse.ArgumentParser(prog="ivr agents")
    p.add_argument("--dialplan", default=os.environ.get("IVR_DIALPLAN",
                                                        "dialplans/contact_centre.yaml"))
    p.add_argument("--store", default=os.environ.get("IVR_STORE_URL", ""),
                   help="redis://... (the servers' shared store)")
    args = p.parse_args(argv)
    try:
        plan = load_dialplan(args.dialplan)
    except DialplanError as exc:
        for err in exc.errors:
            print(format_error(err))
        return 1
    if not args.store:
        print("ivr agents: no shared store (--store redis://... or IVR_STORE_URL): an "
              "in-memory store lives inside each server process", file=sys.stderr)
        return 2
    centre = centre_from_env({**os.environ, "IVR_STORE_URL": args.store})
    now = centre.clock()
    print(f"{'group':<16}{'seats':>12}{'queued':>8}{'longest wait':>14}")
    for name, group in plan.agents.items():
        busy = centre.occupancy.busy(name)
        waiting = centre.queue.waiting(name)
        longest = max((now - e.enqueued_at for e in waiting), default=0.0)
        seats = f"{busy}/{group.capacity}" if group.capacity else f"{busy}/-"
        print(f"{name:<16}{seats:>12}{len(waiting):>8}{longest:>13.0f}s")
    pending = centre.callbacks.pending()
    print(f"call-backs pending: {len(pending)}")
    return 0
