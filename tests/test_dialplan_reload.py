"""Hot reload: a good edit is picked up; a broken one is logged and the old plan keeps serving."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ivr.dialog import CallInfo, Say
from ivr.dialplan import DialplanError, PlanHolder
from ivr.engine import build_factory
from ivr.engine.factory import PlanFactory
from tests.test_dialplan_loader import MINIMAL
from tests.test_engine_support import LexicalFaq, LexicalMatcher


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def _build(plan: object) -> PlanFactory:
    return build_factory(plan, matcher_factory=LexicalMatcher,  # type: ignore[arg-type]
                         faq_factory=LexicalFaq)


def _prompt(f: PlanFactory) -> str:
    first = f.new_call(CallInfo("CA")).start()[0]
    assert isinstance(first, Say)
    return first.text


def test_reload_good_then_broken(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "plan.yaml"
    _write(path, MINIMAL, 0)
    holder = PlanHolder(path, _build, min_interval_s=0)
    old = holder.current()
    in_flight = old.new_call(CallInfo("CA-old"))
    assert _prompt(old) == "Say billing or press 1."
    assert holder.maybe_reload() is False  # nothing changed

    _write(path, MINIMAL.replace("Say billing or press 1.", "Press 1 for billing."), 1)
    assert holder.maybe_reload() is True
    assert _prompt(holder.current()) == "Press 1 for billing."

    good = holder.current()
    _write(path, MINIMAL.replace("go: bye", "go: nowhere"), 2)
    with caplog.at_level(logging.ERROR):
        assert holder.maybe_reload() is False
    assert holder.current() is good
    assert "not reloaded" in caplog.text and "plan.yaml:14:" in caplog.text
    assert holder.last_errors and holder.last_errors[0][1] == 14
    assert holder.maybe_reload() is False  # not retried until the file changes again
    assert in_flight.start()[0] == Say("Say billing or press 1.")


def test_first_load_must_succeed(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    _write(path, "name: [", 0)
    with pytest.raises(DialplanError):
        PlanHolder(path, _build)


def test_rebuild_swaps_a_new_build_of_the_same_plan(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """What the background noised-example build calls when it is done."""
    path = tmp_path / "plan.yaml"
    _write(path, MINIMAL, 0)
    builds: list[int] = []

    def build(plan: object) -> PlanFactory:
        builds.append(1)
        if len(builds) == 3:
            raise RuntimeError("out of memory")
        return _build(plan)

    holder = PlanHolder(path, build, min_interval_s=0)
    first = holder.current()
    assert holder.rebuild() is True and holder.current() is not first
    assert holder.plan is first.plan  # same plan, new models
    kept = holder.current()
    with caplog.at_level(logging.ERROR):
        assert holder.rebuild() is False
    assert holder.current() is kept and "could not be rebuilt" in caplog.text
