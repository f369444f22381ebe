"""``ivr check FILE...``: validate dialplans the way a compiler reports errors."""

from __future__ import annotations

import sys

from ivr.dialplan.errors import DialplanError, format_error
from ivr.dialplan.loader import load_dialplan


def check_main(paths: list[str]) -> int:
    """Print ``file:line: message`` for every problem; 0 when all files load, else 1 (2: usage)."""
    if not paths:
        print("usage: ivr check DIALPLAN.yaml...", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            plan = load_dialplan(path)
        except DialplanError as exc:
            for err in exc.errors:
                print(format_error(err))
            status = 1
        else:
            print(f"{path}: ok ({len(plan.nodes)} nodes, {len(plan.agents)} agent groups)")
    return status
