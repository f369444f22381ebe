"""ASR-noised examples: transcripts are cached per utterance, looked up without models, and
trained on without leaking a held-out example's transcript into its own fold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.asr import Transcript
from ivr.nlu import calibration as cal
from ivr.nlu.noised import heard_examples
from ivr.nlu.spoken import NOISED_STYLES, SpokenChannel
from tests.test_nlu_calibration import BagEmbedder, _examples


class FakeAsr:
    """Mishears 'bill' as 'bell' (a plausible ASR slip), counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def transcribe_many(self, audio: Sequence[Any], hints: Any) -> list[Transcript]:
        self.calls += 1
        return [Transcript(str(a.text).replace("bill", "bell"), 0.9, 1.0, 0.1) for a in audio]


class _Audio:
    def __init__(self, text: str) -> None:
        self.text = text


def _channel(tmp_path: Path, asr: FakeAsr, monkeypatch: pytest.MonkeyPatch) -> SpokenChannel:
    ch = SpokenChannel(NOISED_STYLES, transcriber=asr, cache=tmp_path)
    monkeypatch.setattr(ch, "phone_audio", lambda text, style, i: _Audio(text))
    return ch


def test_heard_once_then_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asr = FakeAsr()
    ex = {"billing": ["my bill is wrong"], "returns": ["return an item"]}
    heard = heard_examples(ex, ("PIN",), channel=_channel(tmp_path, asr, monkeypatch))
    assert heard == {"my bill is wrong": "my bell is wrong", "return an item": "return an item"}
    calls = asr.calls
    again = _channel(tmp_path, asr, monkeypatch)            # a new process: reads the file
    assert heard_examples(ex, ("PIN",), channel=again) == heard and asr.calls == calls
    # cached-only: what is there, nothing spoken for the new example, no model touched
    ex["billing"].append("a bill question")
    got = heard_examples(ex, ("PIN",), channel=again, cached_only=True)
    assert got == heard and asr.calls == calls
    # other hints are another decode: not reused
    assert heard_examples(ex, ("APR",), channel=again, cached_only=True) == {}


def test_transcripts_train_and_stay_in_their_fold(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    ex = _examples()
    heard = {t: t.replace("bill", "bell").replace("password", "pass word") for v in ex.values()
             for t in v}
    assert cal.with_heard(["my bill is wrong", "return an item"], heard) == ["my bell is wrong"]
    emb = BagEmbedder()
    margin, logit, label, oos = cal._held_out_rows(ex, emb, 5, 0, heard)
    plain = cal._held_out_rows(ex, emb, 5, 0)
    assert label.shape[0] > plain[2].shape[0]               # the transcripts are queries too
    assert np.isfinite(margin).all()
    clf = cal.CalibratedClassifier(ex, emb, heard=heard)
    assert clf.classify("the bell is wrong").ranked[0][0] == "billing"


def test_the_cache_tells_asr_models_apart(tmp_path: Path) -> None:
    """The same example heard by another model is another transcript, looked up without it."""
    tiny = SpokenChannel(NOISED_STYLES, cache=tmp_path)
    base = SpokenChannel(NOISED_STYLES, cache=tmp_path, model="base")
    style = NOISED_STYLES[0]
    assert tiny._key("my bill", style, ()) == SpokenChannel(
        NOISED_STYLES, cache=tmp_path, model="tiny.en")._key("my bill", style, ())
    assert tiny._key("my bill", style, ()) != base._key("my bill", style, ())
