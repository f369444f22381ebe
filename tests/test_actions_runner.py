"""Custom actions: in-process rasa_sdk Actions and the Rasa action-server /webhook protocol."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from ivr.actions import ActionCall, ActionFailed, InProcessRunner, WebhookRunner
from ivr.actions.loading import load_action_class
from ivr.dialog import Transfer
from tests.test_engine_support import REPO, Caller, factory

ACTIONS_DIR = REPO / "dialplans"


def order_action() -> type:
    return load_action_class("actions/order_status.py:OrderStatusAction", ACTIONS_DIR)


def test_in_process_example_action() -> None:
    runner = InProcessRunner(order_action())
    result = runner.run(ActionCall("action_order_status", "CA1", {"order_number": "345678"}))
    assert result.messages == ["Order 3 4 5 6 7 8 was delivered yesterday."]
    slots = {e["name"]: e["value"] for e in result.events if e["event"] == "slot"}
    assert slots == {"order_found": True, "order_status": "delivered"}


def test_in_process_exception_becomes_action_failed() -> None:
    from rasa_sdk import Action

    class Boom(Action):
        def name(self) -> str:
            return "boom"

        def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[dict[str, Any]]:
            raise ValueError("db down")

    with pytest.raises(ActionFailed, match="db down"):
        InProcessRunner(Boom).run(ActionCall("boom", "CA1", {}))


def test_load_action_class_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("x = (\n")
    with pytest.raises(ValueError, match="importing bad.py failed"):
        load_action_class("bad.py:X", tmp_path)
    (tmp_path / "ok.py").write_text("class NotAnAction: pass\n")
    with pytest.raises(ValueError, match="not a rasa_sdk Action"):
        load_action_class("ok.py:NotAnAction", tmp_path)
    with pytest.raises(ValueError, match="cannot import module"):
        load_action_class("no.such.module:X", tmp_path)


class _ActionServer(BaseHTTPRequestHandler):
    """A real rasa_sdk ActionExecutor behind the /webhook route (what `rasa run actions` does)."""

    executor: ActionExecutor
    requests: list[dict[str, Any]] = []
    fail_with: int | None = None

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if self.path != "/webhook":
            self._reply(404, {"error": "not found"})
        elif self.fail_with:
            self._reply(self.fail_with, {"error": "database unavailable",
                                         "action_name": body["next_action"]})
        else:
            result = asyncio.run(self.executor.run(body))
            self._reply(200, result.model_dump() if hasattr(result, "model_dump")
                        else dict(result or {}))

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def action_server() -> Iterator[str]:
    executor = ActionExecutor()
    executor.register_action(order_action()())
    _ActionServer.executor = executor
    _ActionServer.requests = []
    _ActionServer.fail_with = None
    server = HTTPServer(("127.0.0.1", 0), _ActionServer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhook"
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_runner_round_trip(action_server: str) -> None:
    runner = WebhookRunner(action_server, "action_order_status")
    result = runner.run(ActionCall("action_order_status", "CA9", {"order_number": "123456"},
                                   latest_text="yes", slot_names=["order_number"]))
    assert result.messages == ["Order 1 2 3 4 5 6 is shipped and should arrive Thursday."]
    assert {"event": "slot", "timestamp": None, "name": "order_found", "value": True} \
        in result.events
    sent = _ActionServer.requests[-1]
    assert sent["next_action"] == "action_order_status" and sent["sender_id"] == "CA9"
    assert sent["tracker"]["slots"] == {"order_number": "123456"}
    assert sent["tracker"]["latest_message"]["text"] == "yes"


def test_webhook_http_error_is_action_failed(action_server: str) -> None:
    _ActionServer.fail_with = 500
    with pytest.raises(ActionFailed, match="HTTP 500.*database unavailable"):
        WebhookRunner(action_server, "action_order_status").run(ActionCall("a", "CA", {}))


def test_webhook_unreachable_is_action_failed() -> None:
    with pytest.raises(ActionFailed, match="unreachable"):
        WebhookRunner("http://127.0.0.1:9/webhook", "a", timeout_s=1).run(
            ActionCall("a", "CA", {}))


def _plan_with_url(tmp_path: Path, url: str) -> Path:
    src = REPO / "dialplans"
    text = (src / "shop.yaml").read_text()
    text = text.replace("python: actions/order_status.py:OrderStatusAction",
                        f"url: {url}\n    action_name: action_order_status")
    text = text.replace("file: kb/shop_faq.yaml", f"file: {src / 'kb' / 'shop_faq.yaml'}")
    plan = tmp_path / "shop.yaml"
    plan.write_text(text)
    return plan


def test_engine_with_action_server(tmp_path: Path, action_server: str) -> None:
    call = Caller(factory(_plan_with_url(tmp_path, action_server)))
    call.say("where is my order")
    call.say("two three four five six seven")
    call.say("yes")
    assert call.texts == ["Order 2 3 4 5 6 7 is processing and should arrive next week.",
                          "Is there anything else I can help you with today?"]


def test_engine_action_server_error_is_spoken_fallback(tmp_path: Path,
                                                       action_server: str) -> None:
    _ActionServer.fail_with = 400
    call = Caller(factory(_plan_with_url(tmp_path, action_server)))
    call.press("1")
    call.press("123456#")
    call.press("1")
    assert call.texts == ["Sorry, I can't look up orders right now.",
                          "Please hold while I connect you to someone who can help."]
    t = call.last
    assert isinstance(t, Transfer) and t.group == "general"
    assert t.context["reason"] == "action_error"
    assert t.context["slots"] == {"order_number": "123456"}


def test_in_process_action_not_found_branch() -> None:
    call = Caller(factory())
    call.press("1")
    call.press("999999")
    call.press("1")
    assert call.texts == ["I couldn't find order 9 9 9 9 9 9. Would you like to try another "
                          "number?"]
    call.press("1")
    assert "six digit order number" in call.heard
