"""ivr: a voice IVR for Twilio Media Streams (Whisper ASR, Piper TTS, YAML dialplans)."""

import os as _os

__version__ = "0.1.0"

# CTranslate2's bundled libgomp otherwise gives every Whisper decode a team of one OpenMP thread
# per core on top of the decode threads CT2 is told to use (``AsrConfig.cpu_threads``): on this
# 2-core box a 1-thread decode then burned 1.9x its wall time in CPU for no gain in speed (encode
# 33 ms wall / 64 ms CPU, generate 80 / 148), CPU taken from the other calls' decodes; with one
# OpenMP thread it is 36 / 36 and 100 / 100, and ``cpu_threads=2`` still runs two threads (25 ms
# wall / 39 ms CPU). libgomp reads this once, when CTranslate2 is first imported, which is always
# after this package's import; an operator's own setting wins.
_os.environ.setdefault("OMP_NUM_THREADS", "1")
