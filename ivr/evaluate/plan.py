"""``ivr eval PLAN``: an operator's pre-launch check of their own plan, on the spoken channel.

For every menu, test phrases per option are spoken with voices unlike the bot's
(:data:`ivr.nlu.spoken.EVAL_STYLES`), put through the phone line and the real ASR with the hints
the engine sends at that menu, and decided by the same calibrated classifier (with the global
intents and the small-FAQ labels beside the options, as the engine builds it) and the plan's
``thresholds``. The phrases come from a tests file the operator writes::

    main:                           # menu node
      order status: [where's my stuff, has it shipped yet]
      returns: [I need to send these back]

or, without one, from the plan's own examples held out by cross-validation (each phrase is
judged by a classifier that never saw it). Prints a per-option table (right / confirmed / wrong /
no-match), the top confusion pairs, the options that need more or clearer examples, and a
suggested ``accept`` threshold; ``--json`` for CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.dialplan import load_dialplan
from ivr.dialplan.checks import GLOBAL_NAMES
from ivr.dialplan.models import Dialplan, MenuNode
from ivr.engine.decide import decide
from ivr.engine.factory import faq_labels, noised_inputs
from ivr.engine.matching import GLOBAL_PREFIX, WholeUtterance, ranked_of
from ivr.errors import IvrError
from ivr.evaluate.scoring import OUTCOMES, rates, suggest_accept
from ivr.nlu.calibration import CalibratedClassifier
from ivr.nlu.noised import heard_examples
from ivr.nlu.spoken import EVAL_STYLES, SpokenChannel, bar

FOLDS = 3
PER_OPTION = 3
"""Held-out phrases per option (cross-validation mode): bounds the spoken work on big plans."""
WEAK = 0.7
"""Options with right + confirmed-right below this share need more or clearer examples."""


@dataclass
class Case:
    menu: str
    option: str
    phrase: str
    heard: str = ""
    ranked: list[tuple[str, float]] = field(default_factory=list)
    outcome: str = ""
    offered: tuple[str, ...] = ()


def _labels(plan: Dialplan, node: MenuNode, examples: Mapping[str, Sequence[str]]
            ) -> dict[str, list[str]]:
    """The menu classifier's labels as :class:`ivr.engine.factory.PlanFactory` builds them."""
    labels = {o: [o, *ex] for o, ex in examples.items()}
    gi = plan.global_intents
    for g in GLOBAL_NAMES:
        ex = list(getattr(gi, g).examples)
        if ex:
            labels.setdefault(GLOBAL_PREFIX + g, ex)
    for faq, questions in faq_labels(plan, node).items():
        labels.setdefault(faq, questions)
    return labels


def read_tests(path: Path, plan: Dialplan) -> dict[str, dict[str, list[str]]]:
    """``{menu: {option: [phrase, ...]}}`` from an operator's tests file, checked against the
    plan so a typo is an error, not a silently skipped option."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of menu names to options")
    out: dict[str, dict[str, list[str]]] = {}
    for menu, options in raw.items():
        node = plan.nodes.get(str(menu))
        if not isinstance(node, MenuNode):
            raise ValueError(f"{path}: {menu!r} is not a menu node of the plan")
        if not isinstance(options, dict):
            raise ValueError(f"{path}: {menu}: expected option names mapped to phrase lists")
        names = {o.name for o in node.options}
        for opt, phrases in options.items():
            if opt not in names:
                raise ValueError(f"{path}: {menu}: no option named {opt!r}")
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                raise ValueError(f"{path}: {menu}: {opt}: expected a list of phrases")
            out.setdefault(str(menu), {})[str(opt)] = list(phrases)
    return out


def _folds(node: MenuNode, folds: int, per_option: int, seed: int
           ) -> list[tuple[dict[str, list[str]], list[tuple[str, str]]]]:
    """(training examples, held-out (option, phrase)) per fold."""
    rng = random.Random(seed)
    out = []
    shuffled = {o.name: rng.sample(list(o.examples), len(o.examples)) for o in node.options}
    for f in range(folds):
        train: dict[str, list[str]] = {}
        held: list[tuple[str, str]] = []
        for name, ex in shuffled.items():
            mine = [e for i, e in enumerate(ex) if i % folds == f][: -(-per_option // folds)]
            train[name] = [e for e in ex if e not in mine]
            held += [(name, e) for e in mine]
        out.append((train, held))
    return out


def evaluate_plan(
    plan: Dialplan,
    tests: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    *,
    folds: int = FOLDS,
    per_option: int = PER_OPTION,
    channel: SpokenChannel | None = None,
    progress: bool = True,
    build_noised: bool = False,
    asr_model: str = "",
) -> dict[str, Any]:
    """Speak, transcribe and decide every test phrase; the report as plain data.

    The classifiers use the plan's ASR-noised example transcripts as a server would (those in
    the cache), after speaking the missing ones first with ``build_noised``.
    """
    ch = channel or SpokenChannel(EVAL_STYLES, model=asr_model)
    th = plan.settings.thresholds
    cases: list[Case] = []
    menus = [(n, node) for n, node in plan.nodes.items() if isinstance(node, MenuNode)]
    for name, node in menus:
        examples = {o.name: list(o.examples) for o in node.options}
        if tests is not None:
            if name not in tests:
                continue
            jobs = [(examples, [(o, p) for o, ps in tests[name].items() for p in ps])]
        else:
            jobs = _folds(node, folds, per_option, seed=0)
        spoken_examples, hints = noised_inputs(plan, node)
        noised = {} if channel is not None else heard_examples(
            spoken_examples, hints, cached_only=not build_noised, asr_model=asr_model,
            progress=bar(f"{name}: examples") if progress and build_noised else None)
        for train, held in jobs:
            if not held:
                continue
            labels = _labels(plan, node, train)
            clf = CalibratedClassifier(labels, use_intent_names=False, heard=noised or None)
            matcher = WholeUtterance(clf, labels, GLOBAL_PREFIX)
            said = ch.hear([p for _, p in held], [hints] * len(held),
                           progress=bar(f"{name}") if progress else None)
            for (opt, phrase), text in zip(held, said, strict=True):
                c = Case(name, opt, phrase, text, ranked_of(matcher.classify(text)))
                d = decide(c.ranked, th)
                c.offered = d.options if d.kind != "reprompt" else ()
                if d.kind == "accept":
                    c.outcome = "right" if d.options[0] == opt else "wrong"
                elif d.kind in ("confirm", "disambiguate"):
                    top_p = c.ranked[0][1] if c.ranked else 0.0
                    non_option = d.options[0] not in train
                    if non_option and top_p >= th.confirm:
                        c.outcome = "wrong"  # the engine acts on a global/FAQ in this band
                    else:
                        c.outcome = "confirmed_right" if opt in d.options else "confirmed_wrong"
                else:
                    c.outcome = "no_match"
                cases.append(c)
    return _report(plan, cases)


def _report(plan: Dialplan, cases: list[Case]) -> dict[str, Any]:
    per: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    confusions: Counter[tuple[str, str]] = Counter()
    for c in cases:
        per[(c.menu, c.option)][c.outcome] += 1
        if c.outcome in ("wrong", "confirmed_wrong") and c.offered:
            confusions[(c.option, c.offered[0])] += 1
    table = []
    weak = []
    for (menu, opt), cnt in sorted(per.items()):
        n = sum(cnt.values())
        row = {"menu": menu, "option": opt, "n": n, **{k: cnt[k] for k in OUTCOMES}}
        table.append(row)
        if (cnt["right"] + cnt["confirmed_right"]) / n < WEAK:
            weak.append(f"{menu}: {opt}")
    th = plan.settings.thresholds
    overall = rates(c.outcome for c in cases)
    return {
        "plan": plan.name,
        "turns": len(cases),
        "overall": overall,
        "options": table,
        "confusions": [
            {"said": a, "taken_for": b, "count": k} for (a, b), k in confusions.most_common(10)
        ],
        "needs_examples": weak,
        "thresholds": {"accept": th.accept, "confirm": th.confirm,
                       "disambiguate": th.disambiguate},
        "suggested_accept": suggest_accept([c.ranked for c in cases],
                                           [c.option for c in cases], th),
        "examples": [
            {"menu": c.menu, "option": c.option, "said": c.phrase, "heard": c.heard,
             "outcome": c.outcome}
            for c in cases if c.outcome in ("wrong", "confirmed_wrong", "no_match")
        ][:30],
    }


def print_report(r: dict[str, Any]) -> None:
    o = r["overall"]
    print(f"{r['plan']}: {r['turns']} spoken test turns")
    print(f"{'menu: option':48s} {'n':>3s} {'right':>5s} {'conf':>5s} {'c.wrg':>5s} "
          f"{'WRONG':>5s} {'nomat':>5s}")
    for row in r["options"]:
        label = f"{row['menu']}: {row['option']}"[:48]
        print(f"{label:48s} {row['n']:3d} {row['right']:5d} {row['confirmed_right']:5d} "
              f"{row['confirmed_wrong']:5d} {row['wrong']:5d} {row['no_match']:5d}")
    print(f"overall: right {o['right']:.2f}, confirmed right {o['confirmed_right']:.2f}, "
          f"wrong route {o['wrong']:.2f}, asked {o['confirm_rate']:.2f}, "
          f"no-match {o['no_match']:.2f}")
    if r["confusions"]:
        print("top confusions (said -> taken for):")
        for c in r["confusions"]:
            print(f"  {c['said']} -> {c['taken_for']} ({c['count']})")
    if r["needs_examples"]:
        print("options that need more or clearer examples: " + "; ".join(r["needs_examples"]))
    print(f"thresholds {r['thresholds']}; suggested accept: {r['suggested_accept']}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ivr eval", description=__doc__.splitlines()[0]
                                 if __doc__ else None)
    ap.add_argument("plan", help="the dialplan YAML")
    ap.add_argument("--tests", default=None, help="YAML of test phrases per menu option")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--per-option", type=int, default=PER_OPTION,
                    help="held-out phrases per option without a tests file")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--asr-model", default=os.environ.get("IVR_ASR_MODEL", ""),
                    help="the ASR model the server runs (IVR_ASR_MODEL; default tiny.en)")
    noised = ap.add_mutually_exclusive_group()
    noised.add_argument("--build-noised", action="store_true", default=True,
                        help="train as a server does once its background build is done: first "
                             "speak the plan's examples not yet cached (ASR-noised training "
                             "copies; the default)")
    noised.add_argument("--cached-noised", dest="build_noised", action="store_false",
                        help="use only the ASR-noised copies already cached (faster, but "
                             "reports a plan a server would improve on)")
    args = ap.parse_args(argv)
    try:
        plan = load_dialplan(args.plan)
        tests = read_tests(Path(args.tests), plan) if args.tests else None
    except (OSError, ValueError, IvrError) as exc:
        print(f"ivr eval: {exc}", file=sys.stderr)
        return 2
    report = evaluate_plan(plan, tests, per_option=args.per_option,
                           progress=not args.no_progress, build_noised=args.build_noised,
                           asr_model=args.asr_model)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print_report(report)
    return 0
