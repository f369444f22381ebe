"""The barge-in *tuning* set: where bench/bargein.py's parameters are chosen, never its report.

Why a separate set: the reported trials (``--set test``, the default) must stay held out, so
every threshold of :mod:`ivr.call.bargein` and :mod:`ivr.call.echo` changed after issue 12 was
chosen here (``python bench/bargein.py --json --set tuning``) and only then measured there.
Nothing in this set is a reported trial:

- coughs and bursts: other seeds, durations and levels;
- real noise: the lead-ins of Speech Commands clips of the official *train* split, of the
  arm_mlek keyword clips, of misc_small and of OSR (the report uses the DEMAND-noise lead-ins of
  noise_reduction and jfk's; those recordings are 1.35 s of speech after a 0.5 s lead-in and
  have no other noise stretch), at their own level and at -20 / -30 dBFS (the report: -25);
- echo: other gains, delays and rooms (room seeds 3 and 4; the report uses 1 and 2);
- interruptions 0.4, 1.0 or 2.0 s into the call (the report: 0.6, 1.5, 2.4);
- real barge-ins: OSR at other offsets, the speech of p232_113 (the report uses only its
  lead-in, as noise), misc_small and jfk at other offsets, Speech Commands *train* words, and
  Piper sentences at other rates and pitches; at 1.0 s and 0.6 s (before the canceller locks).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from tests.line_sim import cough, false_trial_set, noise_burst, room

TIMES = (0.4, 1.0, 2.0)
ECHOES: dict[str, dict[str, Any]] = {
    "none": {"echo_gain": 0.0},
    "e17": {"echo_gain": 0.14, "echo_delay_s": 0.05},
    "e18room": {"echo_gain": 0.125, "echo_delay_s": 0.1, "echo_path": room(3)},
    "e14room": {"echo_gain": 0.2, "echo_delay_s": 0.25, "echo_path": room(4)},
}
REAL_ECHOES = ("none", "e17", "e18room")
REAL_AT = (1.0, 0.6)
SENTENCES = ["My package never arrived and I want a refund.",
             "Technical support, my router keeps dropping.",
             "Could you tell me when my order will ship?"]


def real_noise(shared: Path, clip8k: Any, lead_in: Any) -> list[tuple[str, np.ndarray]]:
    """Non-speech lead-ins of recordings the reported trials do not take noise from."""
    out = []
    paths = sorted((shared / "arm_mlek_samples" / "kws").glob("*.wav"))
    paths += [shared / "misc_small" / "sr_english.wav", shared / "misc_small" / "vosk_test.wav",
              shared / "osr_8k" / "OSR_us_000_0034_8k.wav"]
    for path in paths:
        lead = lead_in(clip8k(path, 3.0)) if path.exists() else np.zeros(0)
        if lead.size and float(np.sqrt(np.mean(lead ** 2))) > 3e-4:
            out.append((f"lead/{path.stem}", lead))
    manifest = shared / "speech_commands_v001_subset" / "manifest.tsv"
    if manifest.exists():
        with manifest.open() as f:
            rows = [r for r in csv.DictReader(f, delimiter="\t") if r["official_split"] == "train"]
        for row in rows[::9]:
            lead = lead_in(clip8k(shared / "speech_commands_v001_subset" / row["path"], 1.0))
            if lead.size >= 1600 and float(np.sqrt(np.mean(lead ** 2))) > 3e-4:
                out.append((f"sc/{Path(row['path']).parent.name}", lead))
    return out


def false_trials(shared: Path, clip8k: Any, lead_in: Any, tile: Any,
                 at_rms: Any) -> list[tuple[str, str, np.ndarray, str]]:
    trials: list[tuple[str, str, np.ndarray]] = []
    for k, (dur, level) in enumerate([(0.2, 0.5), (0.3, 0.7), (0.45, 0.4), (0.6, 0.9),
                                      (0.3, 0.2), (0.35, 0.5)]):
        trials.append(("cough", f"cough{dur}/{level}", cough(dur, 100 + k, level)))
    for k, (dur, level) in enumerate([(0.3, 0.25), (0.5, 0.4), (0.6, 0.2)]):
        trials.append(("burst", f"burst{dur}/{level}", noise_burst(dur, 100 + k, level)))
    for name, lead in real_noise(shared, clip8k, lead_in):
        dur = 0.6
        trials.append(("real_noise", f"{name}/{dur}/own", tile(lead, dur)))
        for dbfs in (-20, -30):
            trials.append(("real_noise", f"{name}/{dur}/{dbfs}dB", at_rms(tile(lead, dur), dbfs)))
    return false_trial_set(trials, TIMES, list(ECHOES), ("e17", "e18room", "e14room"),
                           (-45, -35), hiss_seed=10)


def real_speakers(shared: Path, clip8k: Any, lead_in: Any) -> list[tuple[str, np.ndarray]]:
    real: list[tuple[str, np.ndarray]] = []
    osr = shared / "osr_8k" / "OSR_us_000_0034_8k.wav"
    if osr.exists():
        whole = clip8k(osr, 30.0)
        for k, start in enumerate((14.0, 17.5, 21.0)):
            real.append((f"osr/{k}", whole[int(start * 8000): int((start + 2.5) * 8000)]))
    p113 = shared / "arm_mlek_samples" / "noise_reduction" / "p232_113.wav"
    if p113.exists():
        audio = clip8k(p113, 30.0)
        real.append(("noisy/p232_113", audio[lead_in(audio).size:][: int(2.5 * 8000)]))
    for path, skip in ((shared / "misc_small" / "sr_english.wav", 0.8),
                       (shared / "misc_small" / "vosk_test.wav", 3.6),
                       (shared / "whisper_jfk" / "jfk.flac", 3.2)):
        if path.exists():
            real.append((f"misc/{path.stem}", clip8k(path, 2.5, skip)))
    manifest = shared / "speech_commands_v001_subset" / "manifest.tsv"
    if manifest.exists():
        with manifest.open() as f:
            rows = [r for r in csv.DictReader(f, delimiter="\t") if r["official_split"] == "train"]
        for row in rows[3::40]:
            real.append((f"sc/{row['path']}",
                         clip8k(shared / "speech_commands_v001_subset" / row["path"], 1.0)))
    from ivr.audio import pcm16_to_float, resample, ulaw_to_pcm16
    from ivr.tts import Speaker, VoiceConfig

    for k, (rate, pitch) in enumerate([(0.9, 1.0), (1.1, 0.9), (1.0, 1.1)]):
        sp = Speaker(VoiceConfig(length_scale=rate))
        audio = pcm16_to_float(ulaw_to_pcm16(sp.render(SENTENCES[k], cache=False)))
        if pitch != 1.0:
            audio = resample(audio, 8000, int(8000 / pitch))
        real.append((f"piper/rate{rate}/pitch{pitch}", audio[: int(2.5 * 8000)]))
    return real
