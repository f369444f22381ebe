"""``ivr call``: play a fixture (or a bare recording) against a running server.

Exit status: 0 when the call ran and met every expectation, 1 when an expectation failed, 2 when
the call itself could not be carried out (server down, refused, broken protocol) or the fixture
is invalid -- so CI can tell "the bot got worse" from "the test rig is broken".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from ivr.caller.fixture import FixtureError, load_fixture
from ivr.caller.player import play_call

FAST_SPEED = 4.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ivr call",
        description="Call a running ivr server the way Twilio does, playing a recorded caller.",
    )
    p.add_argument("fixture", help="fixture folder, its call.yaml, or an audio file "
                                   "(played as one caller turn after the greeting)")
    p.add_argument("--url", default="http://127.0.0.1:5000",
                   help="where the server listens (default %(default)s)")
    p.add_argument("--public-url", default=None,
                   help="the server's --public-url if it has one (signatures cover it)")
    p.add_argument("--ws-url", default=None,
                   help="open the media stream on this server instead (several processes "
                        "behind one --public-url, as through a load balancer)")
    p.add_argument("--action-url", default=None,
                   help="send the <Connect action> request (and the record fetch) here instead")
    p.add_argument("--auth-token", default=None,
                   help="Twilio auth token for signatures (default: $TWILIO_AUTH_TOKEN)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--fast", action="store_true", help=f"play at {FAST_SPEED:g}x real time")
    pace.add_argument("--speed", type=float, default=1.0, help="pace factor (default 1 = real "
                                                               "time, like a phone line)")
    p.add_argument("--save-wav", metavar="PATH", help="write what the caller heard (8 kHz WAV)")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many "
                                                                "seconds (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="log protocol details")
    return p


def cli_main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    token = args.auth_token or os.environ.get("TWILIO_AUTH_TOKEN") or None
    try:
        fixture = load_fixture(args.fixture)
    except FixtureError as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return 2
    try:
        report = play_call(fixture, args.url, token, speed=FAST_SPEED if args.fast else args.speed,
                           out_wav=args.save_wav, timeout_s=args.timeout,
                           public_url=args.public_url, ws_url=args.ws_url,
                           action_url=args.action_url)
    except ValueError as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        report.print()
    if report.errors:
        return 2
    return 0 if report.ok else 1
