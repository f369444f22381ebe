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
    if argv and argv[0] in ("customers", "agents"):
        from ivr.contact.cli import agents_main, customers_main

        return (customers_main if argv[0] == "customers" else agents_main)(argv[1:])
    if argv and argv[0] == "check" and "--explain-route" in argv:
        from ivr.contact.cli import explain_main

        return explain_main(argv[1:])
    if argv and argv[0] == "check":
        from ivr.dialplan import check_main

        return check_main(argv[1:])
    if argv and argv[0] == "tickets":
        from ivr.handoff.tickets_cli import main as tickets_main

        return tickets_main(argv[1:])
    if argv and argv[0] == "qa":
        from ivr.handoff.qa_cli import main as qa_main

        return qa_main(argv[1:])
    if argv and argv[0] == "eval":
        from ivr.evaluate.plan import main as eval_main

        return eval_main(argv[1:])

    parser = argparse.ArgumentParser(prog="ivr", description="Voice IVR for Twilio.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("call", help="play a recorded-call fixture or WAV through a server (see --help)")
    sub.add_parser("check", help="validate dialplan files: ivr check FILE... "
                   '(--explain-route "tier=gold intent=billing")')
    sub.add_parser("customers", help="customer directory: ivr customers import FILE.csv | "
                   "show NUMBER")
    sub.add_parser("agents", help="live seats, queues and longest waits per agent group")
    sub.add_parser("eval", help="check a plan's understanding on the spoken channel (see --help)")
    sub.add_parser("tickets", help="list the ticket outbox or run its delivery worker")
    sub.add_parser("qa", help="call QA findings summed per plan (records database)")
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
    if getattr(args, "log_format", "text") == "json":
        from ivr.observability import configure_logging

        configure_logging("json", os.environ.get("IVR_LOG_LEVEL", "INFO"))
    from ivr.handoff.redact import install_log_redaction

    install_log_redaction()  # a backstop: values are redacted at the source already
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
    s.add_argument("--workers", type=int, default=None,
                   help="server processes, each with its own models (IVR_WORKERS; > 1 needs "
                        "--store redis://...)")
    s.add_argument("--model-threads", type=int, default=None,
                   help="model worker threads per process (IVR_MODEL_THREADS)")
    s.add_argument("--store", default=None, metavar="URL",
                   help="live call state: memory:// (default) or redis://host:6379/0 "
                        "(IVR_STORE_URL)")
    s.add_argument("--db", default=None, metavar="URL",
                   help="call records database, any SQLAlchemy URL (IVR_DB_URL; default "
                        "sqlite:///calls.db; 'none' for no database)")
    s.add_argument("--asr-threads", type=int, default=None, help="CTranslate2 threads per ASR")
    s.add_argument("--noised", choices=("background", "cached", "off"), default=None,
                   help="ASR-noised training copies of the plan's examples: speak the missing "
                        "ones at low priority after start-up (background, the default), use "
                        "only cached ones, or none (IVR_NOISED)")
    s.add_argument("--end-silence", type=float, default=None,
                   help="seconds of silence that end a caller's turn")
    s.add_argument("--max-calls", type=int, default=None,
                   help="live calls per process; beyond it new calls go to the default group "
                        "(default 8 per core, IVR_MAX_CALLS)")
    s.add_argument("--drain-s", type=float, default=None,
                   help="on SIGTERM, how long live calls may finish (default 300, IVR_DRAIN_S)")
    s.add_argument("--metrics-port", type=int, default=None,
                   help="serve Prometheus /metrics on this port (default off, IVR_METRICS_PORT)")
    s.add_argument("--metrics-host", default=None, help="address for /metrics (127.0.0.1)")
    s.add_argument("--log-format", choices=("text", "json"),
                   default=os.environ.get("IVR_LOG_FORMAT", "text"),
                   help="json: one JSON object per line, call_sid on every line of a call")


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
        model_threads=args.model_threads,
        store_url=args.store,
        db_url=args.db,
        asr_threads=args.asr_threads,
        noised=args.noised,
        end_silence_s=args.end_silence,
        max_calls=args.max_calls,
        drain_s=args.drain_s,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        log_format=args.log_format,
    )
    settings.check_security()
    settings.check_scaling()
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
