"""The developer's recorded-call player: ``ivr call`` and the fixture format it plays.

Public API::

    load_fixture(path) -> Fixture            # folder / call.yaml / bare audio file
    parse_fixture(data, base_dir) -> Fixture # an already-parsed call.yaml document
    play_call(fixture_or_wav, url, auth_token, *, speed=1.0, out_wav=None, timeout_s=300)
        -> CallReport      # .ok .outcome .turns .latency_ms .failures .print() .to_json()
    write_recording(dir, inbound_ulaw, events, outcome, meta) -> Path   # used by --record
    cli_main(argv) -> int                    # `ivr call ...`
"""

from __future__ import annotations

from ivr.caller.cli import cli_main
from ivr.caller.fixture import Fixture, FixtureError, load_fixture, parse_fixture, write_recording
from ivr.caller.player import play_call
from ivr.caller.report import CallReport, TurnReport
from ivr.caller.twiml import TwimlOutcome, parse_twiml

__all__ = [
    "CallReport",
    "Fixture",
    "FixtureError",
    "TurnReport",
    "TwimlOutcome",
    "cli_main",
    "load_fixture",
    "parse_fixture",
    "parse_twiml",
    "play_call",
    "write_recording",
]
