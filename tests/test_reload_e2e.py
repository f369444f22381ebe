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


def edit(srv: LocalServer, path: Path, old: str, new: str, logged: str) -> None:
    """Edit the live plan and wait until the server's log says it has dealt with the edit
    (``logged`` appears once more): the watcher polls every second, then builds the plan."""
    def count() -> int:  # the whole log (output() is its tail)
        return srv.log_path.read_text(errors="replace").count(logged)

    seen = count()
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    deadline = time.monotonic() + 60
    while count() == seen:
        assert time.monotonic() < deadline, f"the server never logged {logged!r}"
        time.sleep(0.1)


@pytest.mark.slow
def test_good_edit_is_served_and_broken_edit_keeps_previous_plan(
        live: tuple[LocalServer, Path]) -> None:
    srv, plan = live
    first = play_call(KEYPAD_CALL, srv.url, srv.token, speed=4.0, timeout_s=90)
    assert first.ok, first.failures
    assert GREETING in " ".join(first.greeting)

    edit(srv, plan, f"greeting: {GREETING}", "greeting: Hello from the reloaded plan.",
         "shop.yaml reloaded")
    second = play_call(KEYPAD_CALL, srv.url, srv.token, speed=4.0, timeout_s=90)
    assert second.ok, second.failures
    assert "reloaded plan" in " ".join(second.greeting)

    # Break it: an option pointing at a node that does not exist.
    edit(srv, plan, "start: main", "start: no_such_node", "not reloaded")
    third = play_call(KEYPAD_CALL, srv.url, srv.token, speed=4.0, timeout_s=90)
    assert third.ok, third.failures  # still answering, on the last good plan
    assert "reloaded plan" in " ".join(third.greeting)
    log = srv.output()
    assert "not reloaded" in log and "no_such_node" in log
