"""Closing a stream the caller already closed is a normal end of call, not a session crash.

Seen in bench/capacity.py: a caller hung up in the same instant as the bot closed after its last
prompt; simple-websocket raised ConnectionClosed from ``close()`` and the session logged
"session crashed" and ran its fail-safe for a call that had ended normally.
"""

from __future__ import annotations

import logging

import pytest
from simple_websocket.errors import ConnectionClosed

from ivr.observability import CallBindingSocket


class _PeerClosedSocket:
    """The one behaviour under test, raised by the real library's exception type."""

    def receive(self, timeout: float | None = None) -> str | None:
        return None

    def send(self, data: str) -> None:
        raise ConnectionClosed(1000, "")

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        raise ConnectionClosed(1000, "")


def test_close_after_peer_closed_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    sock = CallBindingSocket(_PeerClosedSocket())
    with caplog.at_level(logging.INFO, logger="ivr.observability"):
        sock.close(reason=1000, message="done")
    assert "already closed by the peer" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
