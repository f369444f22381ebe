"""Hot reload: serve new calls from the newest dialplan that loads, never from a broken one.

Operators edit the live file; a save with a mistake must not take the phone line down. So a
failed reload is logged (every error, FILE:LINE) and the previous good plan keeps serving. Calls
already in progress are untouched either way: they hold their own CallDialog.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from ivr.dialplan.errors import DialplanError
from ivr.dialplan.loader import load_dialplan
from ivr.dialplan.models import Dialplan

log = logging.getLogger(__name__)

T = TypeVar("T")


def _stamp(paths: list[Path]) -> tuple[tuple[int, int], ...]:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((-1, -1))
    return tuple(out)


def _watched(plan: Dialplan) -> list[Path]:
    """The plan file and the files it pulls in (knowledge base, in-process action files)."""
    src = Path(plan.source)
    paths = [src]
    if plan.knowledge_base is not None and plan.knowledge_base.file:
        paths.append(src.parent / plan.knowledge_base.file)
    for adef in plan.actions.values():
        if adef.python and ":" in adef.python:
            where = adef.python.rpartition(":")[0]
            if where.endswith(".py") or "/" in where:
                paths.append(src.parent / where)
    return paths


class PlanHolder(Generic[T]):
    """Holds ``build(load_dialplan(path))``; ``maybe_reload()`` swaps in a newer good one.

    The first load raises (a server must not start on a broken plan); later failures only log.
    Checks touch the disk at most once per ``min_interval_s``.
    """

    def __init__(
        self, path: str | Path, build: Callable[[Dialplan], T], min_interval_s: float = 1.0
    ) -> None:
        self.path = Path(path)
        self._build = build
        self._min_interval = min_interval_s
        self._plan = load_dialplan(self.path)
        self._current = build(self._plan)
        self._stamp = _stamp(_watched(self._plan))
        self._checked = time.monotonic()
        self._swap = threading.Lock()
        self.last_errors: list[tuple[str, int, str]] = []

    def current(self) -> T:
        """What new calls should use (the factory built from the newest good plan)."""
        return self._current

    @property
    def plan(self) -> Dialplan:
        return self._plan

    def maybe_reload(self) -> bool:
        """Reload if a watched file changed; True when a new plan was swapped in."""
        now = time.monotonic()
        if now - self._checked < self._min_interval:
            return False
        self._checked = now
        paths = _watched(self._plan)
        stamp = _stamp(paths)
        if stamp == self._stamp:
            return False
        self._stamp = stamp  # don't retry a broken file until it changes again
        try:
            plan = load_dialplan(self.path)
            built = self._build(plan)
        except DialplanError as exc:
            self.last_errors = list(exc.errors)
            log.error(
                "dialplan %s not reloaded; still serving the previous version:\n%s", self.path, exc
            )
            return False
        except Exception:
            log.exception(
                "dialplan %s loaded but could not be built; keeping the previous one", self.path
            )
            return False
        with self._swap:
            self._plan, self._current = plan, built
        self._stamp = _stamp(_watched(plan))
        self.last_errors = []
        log.info("dialplan %s reloaded", self.path)
        return True

    def rebuild(self) -> bool:
        """Build the current plan again (its models' inputs changed, e.g. the noised examples
        finished); True when swapped in. A failure keeps the previous build, logged."""
        plan = self._plan
        try:
            built = self._build(plan)
        except Exception:
            log.exception("dialplan %s could not be rebuilt; keeping the previous build", self.path)
            return False
        with self._swap:
            if self._plan is not plan:  # a reload won meanwhile: it is newer
                return False
            self._current = built
        log.info("dialplan %s rebuilt", self.path)
        return True
