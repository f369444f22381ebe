"""Hot reload on a running server: a good edit is picked up, a broken one is refused and the
previous plan keeps serving calls."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.caller import play_call
from ivr.caller.local_server import LocalServer

from .conftest import REPO_ROOT

KEYPAD_CALL = REPO_ROOT / "tests" / "fixtures" / "dtmf_only"
GREETING = "Thanks for calling Example Shop."


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    tmp = tmp_path_factory.mktemp("reload")
    plans = tmp / "dialplans"
    shutil.copytree(REPO_ROOT / "dialplans", plans)
    with LocalServer(plans / "shop.yaml", workdir=tmp,
                     env={"IVR_NOW": "2026-11-24T10:00:00-05:00"}) as srv:
        yield srv, plans / "shop.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    time.sleep(2.5)  # the watcher polls every second


@pytest.mark.slow
def test_good_edit_is_served_and_broken_edit_keeps_previous_plan(
        live: tuple[LocalServer, Path]) -> None:
    srv, plan = live
    first = play_call(KEYPAD_CALL, srv.url, srv.token, speed=4.0, timeout_s=90)
    assert first.ok, first.failures
    assert GREETING in " ".join(first.greeting)

    edit(plan, f"greeting: {GREETING}", "greeting: Hello from the reloaded plan.")
    second = play_call(KEYPAD_CALL, srv.url, srv.token, speed=4.0, timeout_s=90)
    assert second.ok, second.failures
    assert "reloaded plan" in " ".join(second.greeting)

    # Break it: an option pointing at a node that does not exist.
    edit(plan, "start: main", "start: no_such_node")
    third = play_call(KEYPAD_CALL, srv.url, srv.token, speed=4.0, timeout_s=90)
    assert third.ok, third.failures  # still answering, on the last good plan
    assert "reloaded plan" in " ".join(third.greeting)
    log = srv.output()
    assert "not reloaded" in log and "no_such_node" in log
