"""Parsing of opening-hours notation ("mon-fri": "09:00-17:30"), shared by validation and engine.

Kept in the dialplan package (not the engine) so a typo in hours is a load error with a line
number, not a surprise at 9 am.
"""

from __future__ import annotations

import re
from datetime import time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_day_keys(key: str) -> list[int]:
    """'mon' -> [0]; 'mon-fri' -> [0..4]; 'sat,sun' -> [5, 6] (Monday = 0, like weekday())."""
    out: list[int] = []
    for part in key.lower().split(","):
        part = part.strip()
        if "-" in part:
            a, _, b = part.partition("-")
            if a.strip() not in DAYS or b.strip() not in DAYS:
                raise ValueError(f"unknown day range {part!r} (days are {', '.join(DAYS)})")
            i, j = DAYS.index(a.strip()), DAYS.index(b.strip())
            if j < i:
                raise ValueError(f"day range {part!r} runs backwards")
            out.extend(range(i, j + 1))
        elif part in DAYS:
            out.append(DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r} (days are {', '.join(DAYS)})")
    return out


def parse_ranges(spans: str | list[str]) -> list[tuple[time, time]]:
    """'09:00-17:00' or a list of them or 'closed' -> [(open, close)], close may be 24:00."""
    items = [spans] if isinstance(spans, str) else list(spans)
    out: list[tuple[time, time]] = []
    for item in items:
        if item.strip().lower() == "closed":
            continue
        m = _SPAN.match(item)
        if not m:
            raise ValueError(f"opening hours {item!r} should look like '09:00-17:30'")
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"opening hours {item!r}: not a time of day")
        end = time.max if h2 == 24 else time(h2, m2)
        start = time(h1, m1)
        if end <= start:
            raise ValueError(f"opening hours {item!r} close before they open")
        out.append((start, end))
    return out
