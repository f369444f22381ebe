"""Speak a plan's examples for its ASR-noised training copies, in the background, then swap in.

Why: training on what callers sound like after the ASR (:mod:`ivr.nlu.noised`) is worth having
on every server, not only where an operator ran ``ivr eval`` first; but speaking
the bank plan's 770 examples takes ~10 minutes on 2 cores, and a server must take calls at
once. So a server starts on whatever the cache holds, speaks the rest in a separate process at
the lowest CPU priority (live calls come first), and rebuilds the plan's classifiers when that
process is done. Workers of one host share the work: a file lock per plan version lets one
speak while the others wait, and a stamp lets later starts (and the waiting workers) skip it.

``python -m ivr.nlu.noised_build PLAN`` is that process (also usable by hand or in an image
build); it prints a progress bar per menu on stderr.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ivr.nlu.calibration import cache_dir

log = logging.getLogger(__name__)


def plan_key(path: Path, asr_model: str = "") -> str:
    """One plan version heard by one ASR model: an edit is a new key (new examples to speak),
    and so is another model (other errors)."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update(b"\0" + (asr_model or "tiny.en").encode())
    return digest.hexdigest()[:20]


def stamp_path(path: Path, asr_model: str = "") -> Path:
    """Exists once every example of this plan version has been heard (and cached)."""
    return cache_dir() / "noised" / f"{plan_key(path, asr_model)}.done"


def speak_plan(path: Path, *, progress: bool = True, fit: bool = True, asr_model: str = "") -> int:
    """Speak every menu's examples not yet in the cache (heard by ``asr_model``, empty:
    tiny.en); the number of examples heard. ``fit``: then build the plan, so its calibration
    fits are cached too."""
    from ivr.dialplan import load_dialplan
    from ivr.dialplan.models import MenuNode
    from ivr.engine.factory import noised_inputs
    from ivr.nlu.noised import heard_examples
    from ivr.nlu.spoken import NOISED_STYLES, SpokenChannel, bar

    plan = load_dialplan(path)
    channel = SpokenChannel(NOISED_STYLES, model=asr_model)
    total = 0
    for name, node in plan.nodes.items():
        if not isinstance(node, MenuNode):
            continue
        examples, hints = noised_inputs(plan, node)
        total += len(heard_examples(examples, hints, channel=channel,
                                    progress=bar(f"{plan.name}/{name}: examples") if progress
                                    else None))
    if fit:
        # Build the plan once here, at low priority: its calibration fits (keyed by examples and
        # transcripts) land in the cache, so the workers' rebuilds only read them instead of
        # all fitting the same thing at once at normal priority.
        from ivr.engine import build_factory

        build_factory(plan, noised="cached", asr_model=asr_model)
    return total


class BackgroundBuild:
    """Runs :func:`speak_plan` in a low-priority child process per plan version, then calls
    ``on_done`` (the server rebuilds the plan's classifiers from the now complete cache).

    ``on_done`` is not called for a version whose stamp was already there when requested: the
    plan was built with every transcript in the first place.
    """

    def __init__(self, on_done: Callable[[], object], *, command: Sequence[str] | None = None,
                 asr_model: str = "") -> None:
        self._on_done = on_done
        self._asr_model = asr_model
        self._command = list(command or [sys.executable, "-m", "ivr.nlu.noised_build",
                                         "--asr-model", asr_model])
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.finished = threading.Event()
        """Set when the latest requested version is built (or failed: see the log)."""

    def request(self, path: Path) -> bool:
        """Build ``path``'s version unless its stamp exists; True when a build was started."""
        if stamp_path(path, self._asr_model).exists():
            self.finished.set()
            return False
        self.finished.clear()
        threading.Thread(target=self._run, args=(path,), daemon=True,
                         name="noised-build").start()
        return True

    def _run(self, path: Path) -> None:
        try:
            if self._build(path):
                self._on_done()
        except Exception:  # a failed build only costs the noised copies: say so, keep serving
            log.exception("ASR-noised examples of %s not built; serving without them", path)
        finally:
            self.finished.set()

    def _build(self, path: Path) -> bool:
        stamp = stamp_path(path, self._asr_model)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        with open(stamp.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be speaking this version
            if stamp.exists():
                return True
            with self._lock:
                if self._closed:
                    return False
                log.info("speaking the ASR-noised examples of %s in the background", path)
                child = self._child = subprocess.Popen([*self._command, str(path)])
            rc = child.wait()
            with self._lock:
                self._child = None
            if rc != 0:
                log.error("ASR-noised example build of %s exited with %d", path, rc)
                return False
            stamp.touch()
        log.info("ASR-noised examples of %s built", path)
        return True

    def close(self) -> None:
        """Stop a running child (its finished transcripts stay cached for the next start)."""
        with self._lock:
            self._closed = True
            if self._child is not None:
                self._child.terminate()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivr.nlu.noised_build",
                                 description="speak a plan's examples into the ASR-noised cache")
    ap.add_argument("plan", type=Path)
    ap.add_argument("--asr-model", default="",
                    help="the server's ASR model (IVR_ASR_MODEL; empty: tiny.en)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    os.nice(19)  # after live calls, always
    n = speak_plan(args.plan, progress=not args.no_progress, asr_model=args.asr_model)
    print(f"{args.plan}: {n} examples heard", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
