"""Custom actions on a real Rasa action server (`python -m rasa_sdk`), as an operator runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ivr.actions.runner import ActionCall, WebhookRunner

from .conftest import REPO_ROOT

ACTIONS_DIR = REPO_ROOT / "dialplans" / "actions"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def rasa_action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("rasa") / "actions.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "bank_actions", "--port", str(port)],
            cwd=ACTIONS_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail("rasa_sdk action server exited:\n" + log.read_text())
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    time.sleep(0.3)
            else:
                pytest.fail("rasa_sdk action server did not start:\n" + log.read_text())
            yield f"http://127.0.0.1:{port}/webhook"
        finally:
            # Sanic runs worker processes: stop the whole group.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def call(number: str) -> ActionCall:
    return ActionCall(action_name="action_check_transfer", sender_id="CA1", slots={},
                      latest_text="my transfer hasn't arrived", slot_names=["transfer_status"],
                      metadata={"call_sid": "CA1", "from": number})


def test_real_action_server_sets_slots_and_speaks(rasa_action_server: str) -> None:
    result = WebhookRunner(rasa_action_server, "action_check_transfer", timeout_s=10).run(
        call("+15005550006"))
    assert any("250 dollars" in m for m in result.messages)
    assert {"event": "slot", "name": "transfer_status", "value": "pending"}.items() <= \
        next(e for e in result.events if e.get("name") == "transfer_status").items()


def test_real_action_server_unknown_caller(rasa_action_server: str) -> None:
    result = WebhookRunner(rasa_action_server, "action_check_transfer", timeout_s=10).run(
        call("+15550000000"))
    assert any("can't see a pending transfer" in m for m in result.messages)


def test_bank_actions_module_is_importable_in_process() -> None:
    sys.path.insert(0, str(ACTIONS_DIR))
    try:
        import bank_actions

        assert bank_actions.ActionCheckTransfer().name() == "action_check_transfer"
    finally:
        sys.path.remove(str(ACTIONS_DIR))
