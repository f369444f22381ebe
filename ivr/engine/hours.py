"""Business hours: is the line open at this instant, in the plan's time zone?"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from ivr.dialplan.hours import parse_day_keys, parse_ranges
from ivr.dialplan.models import Hours


class OpeningHours:
    """Pre-parsed :class:`Hours` (parsed once per plan load, checked per call)."""

    def __init__(self, hours: Hours) -> None:
        self.zone = ZoneInfo(hours.timezone)
        self.holidays = frozenset(hours.holidays)
        self.week: dict[int, list[tuple[time, time]]] = {d: [] for d in range(7)}
        for key, spans in hours.open.items():
            for day in parse_day_keys(key):
                self.week[day].extend(parse_ranges(spans))

    def is_open(self, now: datetime) -> bool:
        """``now`` must be timezone-aware (the engine's clock returns UTC)."""
        local = now.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        t = local.time().replace(tzinfo=None)
        return any(
            start <= t < end or (end == time.max and t >= start)
            for start, end in self.week[local.weekday()]
        )
