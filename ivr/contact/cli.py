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
