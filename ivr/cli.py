"""``ivr`` command line: serve, call, check, eval, demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ivr.errors import IvrError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIALPLAN = REPO_ROOT / "dialplans" / "shop.yaml"
DEFAULT_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "speech_transfer"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "call":
        from ivr.caller import cli_main

        return cli_main(argv[1:])
    if argv and argv[0] == "check":
        from ivr.dialplan import check_main

        return check_main(argv[1:])
    if argv and argv[0] == "eval":
        from ivr.evaluate.plan import main as eval_main

        return eval_main(argv[1:])

    parser = argparse.ArgumentParser(prog="ivr", description="Voice IVR for Twilio.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("call", help="play a recorded-call fixture or WAV through a server (see --help)")
    sub.add_parser("check", help="validate dialplan files: ivr check FILE...")
    sub.add_parser("eval", help="check a plan's understanding on the spoken channel (see --help)")
    s = sub.add_parser("serve", help="run the Twilio webhook + Media Streams server")
    _serve_args(s)
    d = sub.add_parser("demo", help="start a local server and play a recorded call through it")
    d.add_argument("fixture", nargs="?", default=str(DEFAULT_FIXTURE))
    d.add_argument("--dialplan", default=str(DEFAULT_DIALPLAN))
    d.add_argument("--port", type=int, default=0, help="default: any free port")
    d.add_argument("--fast", action="store_true", help="play faster than real time")
    d.add_argument("--save-wav", default="", help="save the bot's side of the call here")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("IVR_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            return _serve(args)
        return _demo(args)
    except IvrError as exc:
        print(f"ivr: error [{exc.code}]: {exc}", file=sys.stderr)
        return 2


def _serve_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--dialplan", default=os.environ.get("IVR_DIALPLAN", str(DEFAULT_DIALPLAN)))
    s.add_argument("--host", default="0.0.0.0")
    s.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    s.add_argument("--public-url", default=None, help="base URL Twilio reaches (IVR_PUBLIC_URL)")
    s.add_argument("--insecure-dev", action="store_true",
                   help="allow running without TWILIO_AUTH_TOKEN (signatures unchecked); dev only")
    s.add_argument("--record", default=None, metavar="DIR",
                   help="save every call as a replayable fixture folder in DIR")
    s.add_argument("--call-log", default=None, help="append finished call records (JSON lines)")
    s.add_argument("--threads", type=int, default=200, help="max concurrent calls + requests")
    s.add_argument("--workers", type=int, default=None, help="model worker threads")
    s.add_argument("--asr-threads", type=int, default=None, help="CTranslate2 threads per ASR")
    s.add_argument("--end-silence", type=float, default=None,
                   help="seconds of silence that end a caller's turn")


def _serve(args: argparse.Namespace) -> int:
    from ivr.config import settings_from_env
    from ivr.server import serve

    settings = settings_from_env(
        dialplan=args.dialplan,
        public_url=args.public_url,
        insecure_dev=args.insecure_dev or None,
        record_dir=args.record,
        call_log=args.call_log,
        workers=args.workers,
        asr_threads=args.asr_threads,
        end_silence_s=args.end_silence,
    )
    settings.check_security()
    logging.getLogger("ivr").info("serving %s on %s:%s", settings.dialplan, args.host, args.port)
    serve(settings, args.host, args.port, threads=args.threads)
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The README's first command: a real server on the example dialplan, a recorded call
    played through it over the real protocol, the conversation printed."""
    from ivr.caller import cli_main
    from ivr.caller.local_server import LocalServer

    print(f"starting ivr serve on {args.dialplan} (loading Whisper and Piper)...", flush=True)
    with LocalServer(args.dialplan, port=args.port, log_to_console=True,
                     env={"IVR_LOG_LEVEL": os.environ.get("IVR_LOG_LEVEL", "WARNING"),
                          # a weekday morning, so the demo transfers whatever the time is here
                          "IVR_NOW": os.environ.get("IVR_NOW", "2026-11-24T10:00:00-05:00")},
                     ) as srv:
        call_args = [args.fixture, "--url", srv.url, "--auth-token", srv.token]
        if args.fast:
            call_args.append("--fast")
        if args.save_wav:
            call_args += ["--save-wav", args.save_wav]
        return cli_main(call_args)


if __name__ == "__main__":
    raise SystemExit(main())
