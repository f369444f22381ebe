"""Which Whisper model a setting names (ivr.asr_models): the default, a path, the two-part base."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr import asr_models
from ivr.asr import AsrConfig, Transcriber
from ivr.errors import ModelError


def test_default_and_name_are_the_bundled_tiny_en() -> None:
    path = asr_models.resolve_model_path("")
    assert asr_models.resolve_model_path("tiny.en") == path
    assert (Path(path) / "model.bin").is_file()


def test_a_directory_is_taken_as_it_is(tmp_path: Path) -> None:
    assert asr_models.resolve_model_path(str(tmp_path)) == str(tmp_path)


def test_an_unknown_model_says_what_it_accepts() -> None:
    with pytest.raises(ModelError, match=r"not found: 'small\.en'.*tiny\.en, base"):
        asr_models.resolve_model_path("small.en")


def test_the_transcriber_reports_a_bad_setting_as_a_model_error() -> None:
    with pytest.raises(ModelError, match="not found"):
        Transcriber(AsrConfig(model_path="/nonexistent/whisper"))


def _fake_parts(root: Path, half: bytes) -> list[Path]:
    dirs = [root / "p1" / "data", root / "p2" / "data"]
    for d in dirs:
        d.mkdir(parents=True)
    (dirs[0] / "model.bin.part1").write_bytes(half)
    (dirs[1] / "model.bin.part2").write_bytes(half[::-1])
    for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (dirs[0] / f).write_text(f)
    return dirs


def test_base_is_joined_once_from_its_two_halves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = _fake_parts(tmp_path / "pkgs", b"0123456789" * 1000)
    monkeypatch.setattr(asr_models, "_part_dirs", lambda: dirs)
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    out = Path(asr_models.resolve_model_path("base"))
    model = out / "model.bin"
    assert model.read_bytes() == b"0123456789" * 1000 + (b"0123456789" * 1000)[::-1]
    assert (out / "tokenizer.json").read_text() == "tokenizer.json"
    assert not [p for p in out.iterdir() if p.name.startswith(".model.bin")]
    stamp = model.stat().st_mtime_ns
    assert Path(asr_models.resolve_model_path("base")) == out
    assert model.stat().st_mtime_ns == stamp  # not joined again


def test_a_half_written_join_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = _fake_parts(tmp_path / "pkgs", b"ab" * 500)
    monkeypatch.setattr(asr_models, "_part_dirs", lambda: dirs)
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    out = Path(asr_models.resolve_model_path("base"))
    (out / "model.bin").write_bytes(b"ab")  # e.g. a disk that filled up under an old version
    assert (Path(asr_models.resolve_model_path("base")) / "model.bin").stat().st_size == 2000


def test_base_without_its_packages_says_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asr_models, "_BASE_PARTS", ("ivr_no_such_part1", "ivr_no_such_part2"))
    with pytest.raises(ModelError, match=r"ivr\[asr-base\]"):
        asr_models.resolve_model_path("base")


def test_an_incomplete_base_package_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = _fake_parts(tmp_path / "pkgs", b"x")
    (dirs[1] / "model.bin.part2").unlink()
    monkeypatch.setattr(asr_models, "_part_dirs", lambda: dirs)
    with pytest.raises(ModelError, match="incomplete: .*model.bin.part2"):
        asr_models.resolve_model_path("base")
